# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom, ex_hints: read by labs/exercise.sh
# Exercise 6: the gateway runs a small python relay (relay.py) whose listener lacks IP_TRANSPARENT.
ex_title="a home-made proxy"
ex_symptom="The gateway runs a home-made proxy, relay.py (in the exercise directory), instead of
tplab proxy. The rules are the standard ones. The client's requests to
http://198.51.100.2/ time out, and relay.py never prints 'accepted'."

ex_relay_py='"""A tiny TCP relay for TPROXY: accept, read the original destination with
getsockname(), connect there, copy bytes both ways. Usage: python3 relay.py ADDR PORT"""
import os, socket, sys, threading

IP_TRANSPARENT = getattr(socket, "IP_TRANSPARENT", 19)  # <linux/in.h>


def pipe(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(client):
    destination = client.getsockname()  # TPROXY: the server the client asked for
    print(f"accepted {client.getpeername()} for {destination}", flush=True)
    try:
        upstream = socket.create_connection(destination, timeout=5)
    except OSError as e:
        print(f"connect {destination}: {e}", flush=True)
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    pipe(client, upstream)


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((addr, port))
    listener.listen(128)
    with open("relay.pid", "w") as f:
        f.write(f"{os.getpid()}\n")
    print(f"listening on {addr}:{port}", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


main()
'

ex_setup() {
    printf '%s' "$ex_relay_py" >relay.py
    ex_policy_routing "$tproxy_mark/$tproxy_mark" "$tproxy_table"
    ex_divert_chain "$tproxy_mark"
    ex_tproxy_rule "$ex_tproxy_port" "$tproxy_mark/$tproxy_mark"
    start_bg "$ns_gw" relay.log "$lab_py" -u relay.py 0.0.0.0 "$ex_tproxy_port"
    wait_listening "$ns_gw" "$ex_tproxy_port" || { cat relay.log >&2; die "relay.py did not listen"; }
}

ex_check() {
    ex_check_relay_flow "$ex_tproxy_port"
    ex_check_doctor tproxy
}

# The hint ladder (exercise.sh N --hint): nudges toward the evidence, never the fix.
ex_hints=(
    "The rules count the SYN (iptables -t mangle -L PREROUTING -v -n), yet relay.py never prints 'accepted'. Run {doctor} --mode tproxy --port 15002 on the gateway and read its listener line."
    "TPROXY can only hand a connection for someone else's address to a socket that said it accepts such connections. Which socket option is that, and when must it be set?"
    "Read relay.py from the top: where is the listening socket made, and what happens between socket() and bind()? Restart it after the change, output to relay.log."
)
