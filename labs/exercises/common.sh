# shellcheck shell=bash disable=SC2154,SC2034  # lib.sh's names (ns_gw, tproxy_mark, ...)
# What the break-and-fix exercises share: the working gateways they start from (TPROXY and
# REDIRECT), the servers, and the grading on evidence: real requests with a fresh token each,
# the proxy's own events for them (read by evidence.py, beside this file), the peer the server
# saw, and tplab doctor to explain a failure. Sourced by labs/exercise.sh after labs/lib.sh;
# IPv4 only, on lib.sh's standard topology.

# The proxy ports and the mark/table of a correct gateway: the same as the labs'.
ex_tproxy_port=$tproxy_port    # 15002
ex_redirect_port=$redirect_port  # 15001
ex_gw_service_port=2222        # a service of the gateway itself (think sshd)

#### Building blocks of a gateway ##############################################

# ex_policy_routing MARK/MASK TABLE: the ip rule and the local route TPROXY needs.
ex_policy_routing() {
    run "$ns_gw" ip rule add fwmark "$1" lookup "$2"
    run "$ns_gw" ip route add local 0.0.0.0/0 dev lo table "$2"
}

# ex_divert_chain MARK: the kernel documentation's guard (tproxy.rst): packets of flows that
# already have a transparent socket are marked and accepted before any TPROXY rule.
ex_divert_chain() {
    run "$ns_gw" iptables -t mangle -N DIVERT
    run "$ns_gw" iptables -t mangle -A DIVERT -j MARK --set-mark "$1"
    run "$ns_gw" iptables -t mangle -A DIVERT -j ACCEPT
    run "$ns_gw" iptables -t mangle -A PREROUTING -p tcp -m socket --transparent -j DIVERT
}

# ex_tproxy_rule PORT MARK/MASK: the scoped TPROXY rule (client side, port 80 only).
ex_tproxy_rule() {
    run "$ns_gw" iptables -t mangle -A PREROUTING -i veth-c -p tcp --dport "$lab_http_port" \
        -j TPROXY --on-port "$1" --tproxy-mark "$2"
}

# ex_tproxy_proxy PORT: tplab proxy --mode tproxy listening on 0.0.0.0:PORT.
ex_tproxy_proxy() {
    start_bg "$ns_gw" proxy.log tplab proxy --mode tproxy --listen "0.0.0.0:$1" --events events.jsonl
    wait_listening "$ns_gw" "$1" || { cat proxy.log >&2; die "tplab proxy did not listen on $1"; }
}

# ex_tproxy_gateway: a working TPROXY gateway, as labs/04-tproxy.sh builds it (IPv4).
ex_tproxy_gateway() {
    ex_policy_routing "$tproxy_mark/$tproxy_mark" "$tproxy_table"
    ex_divert_chain "$tproxy_mark"
    ex_tproxy_rule "$ex_tproxy_port" "$tproxy_mark/$tproxy_mark"
    ex_tproxy_proxy "$ex_tproxy_port"
}


#### The servers ###################################################################

# The exercise's HTTP server: like lib.sh's name server ("served by NAME"), and it also answers a
# GET of /tplab-check/TOKEN (TOKEN: 32 hex digits, made up by --check for one request) with
# "served by NAME, check TOKEN", and logs `NAME: peer=A:P local=A:P check=TOKEN "GET ..."`. A
# responder that is not this server cannot know TOKEN, and the log says who connected to it.
ex_server_py='
import http.server, re, socket, sys

name, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

def endpoint(sockaddr):
    host, port = sockaddr[0], sockaddr[1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

class Handler(http.server.BaseHTTPRequestHandler):
    token = "-"

    def do_GET(self):
        m = re.fullmatch(r"/tplab-check/([0-9a-f]{32})", self.path)
        self.token = m.group(1) if m else "-"
        body = f"served by {name}" + (f", check {self.token}" if m else "") + "\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, fmt, *args):
        print(f"{name}: peer={endpoint(self.connection.getpeername())}"
              f" local={endpoint(self.connection.getsockname())}"
              f" check={self.token} {fmt % args}", flush=True)

class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

print(f"{name}: listening on {endpoint((addr, port))}", flush=True)
Server((addr, port), Handler).serve_forever()
'

# ex_start_server NS NAME PORT LOGFILE: the exercise's HTTP server in NS on [::]:PORT.
ex_start_server() {
    local ns=$1 name=$2 port=$3 logfile=$4
    printf '%s' "$ex_server_py" >"$ex_private_dir/server.py"
    start_bg "$ns" "$logfile" "$lab_py" -u "$ex_private_dir/server.py" "$name" :: "$port"
    wait_listening "$ns" "$port" || { cat "$logfile" >&2; die "the server in $ns did not listen on $port"; }
}


# ex_gateway_service: an HTTP server of the gateway itself on 2222 ("served by gw").
ex_gateway_service() {
    ex_start_server "$ns_gw" gw "$ex_gw_service_port" gw.http.log
}

#### The evidence --check reads ###################################################

# ex_fail / ex_pass / ex_note MESSAGE: lib.sh's fail/pass, the message wrapped to 100 columns.
ex_wrap() {
    printf '%s' "$1" | fold -s -w 92 | sed 's/ *$//; 2,$s/^/      /'
}
ex_fail() {
    fail "$(ex_wrap "$1")"
}
ex_pass() {
    pass "$(ex_wrap "$1")"
}
ex_note() {
    printf 'NOTE: %s\n' "$(ex_wrap "$1")"
}

ex_curl_out="" ex_curl_from="" ex_token=""

# ex_curl NS HOST:PORT: one request for /tplab-check/TOKEN with a fresh TOKEN (ex_token), 3 s at
# most. Sets ex_curl_out (the body, or curl's error, on one line) and ex_curl_from (the
# client's own address and port, A.B.C.D:PORT); fails if curl did.
ex_curl() {
    local ns=$1 target=$2 rc=0 out
    ex_token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    out=$(ip netns exec "$ns" curl --noproxy '*' -sS --max-time 3 \
        -w '\n%{local_ip}:%{local_port}' "http://$target/tplab-check/$ex_token" 2>&1) || rc=$?
    ex_curl_from=${out##*$'\n'}
    out=${out%$'\n'*}
    ex_curl_out=${out//$'\n'/ }
    ex_curl_out=${ex_curl_out% }
    [[ "$ex_curl_from" =~ ^[0-9.]+:[1-9][0-9]*$ ]] || ex_curl_from=""
    return "$rc"
}

# ex_seen_by LOGFILE: the peer (A:P) the server of LOGFILE logged for ex_token, or nothing.
ex_seen_by() {
    { sed -n "s/^[^:]*: peer=\([^ ]*\) local=[^ ]* check=$ex_token .*/\1/p" "$1" 2>/dev/null || true; } |
        tail -n1
}

# ex_answered NS HOST:PORT NAME LABEL: send the request; true if the answer was the server
# NAME's, with this request's token. Else one FAIL line (LABEL says which flow) and false.
ex_answered() {
    local ns=$1 target=$2 name=$3 label=$4
    if ! ex_curl "$ns" "$target"; then
        ex_fail "$label: ${ex_curl_out:-no answer}"
        return 1
    fi
    if [[ "$ex_curl_out" != "served by $name, check $ex_token" ]]; then
        ex_fail "$label: got '$ex_curl_out', want 'served by $name, check $ex_token' (a fresh token each check: only the real server knows it)"
        return 1
    fi
}

# ex_gw_pids: the processes in the gateway's namespace, one line.
ex_gw_pids() {
    ip netns pids "$ns_gw" 2>/dev/null | tr '\n' ' '
}

# ex_check_proxied_flow MODE RECOVERED_BY: the client's request to the server went through tplab
# proxy: its events (--events of a tplab proxy in the gateway) show the client's connection,
# accepted in MODE with the original destination recovered by RECOVERED_BY, and the server
# logged this request's token from the proxy's upstream address. Anything else is one FAIL.
ex_check_proxied_flow() {
    local want_mode=$1 want_by=$2 url="http://$server_ip4/" label seen ev
    label="client -> $url"
    ex_answered "$ns_client" "$server_ip4:$lab_http_port" server "$label" || return 0
    seen=$(ex_seen_by "$ex_dir/server.http.log")
    # shellcheck disable=SC2046  # one pid per word
    ev=$("$lab_py" "$ex_home/evidence.py" proxy-event "$ex_curl_from" $(ex_gw_pids)) || ev=""
    ex_match_event "$label" "$want_mode" "$want_by" "$server_ip4:$lab_http_port" "$seen" "$ev"
}

# ex_match_event LABEL MODE RECOVERED_BY ORIGINAL_DST SEEN EVIDENCE: PASS or FAIL on what
# evidence.py proxy-event said about the connection of ex_curl_from.
ex_match_event() {
    local label=$1 want_mode=$2 want_by=$3 want_dst=$4 seen=$5 ev=$6 mode dst by up
    if [[ -z "$ev" ]]; then
        ex_fail "$label: answered, but reading tplab proxy's events failed (labs/exercises/evidence.py)"
        return 0
    fi
    if [[ "$ev" == none* ]]; then
        if [[ "$ev" == "none proxies=0 "* ]]; then
            ex_fail "$label: answered, but no tplab proxy runs in $ns_gw: the request did not go through a proxy"
        elif [[ "$ev" == *" events=-" ]]; then
            ex_fail "$label: answered, but the tplab proxy in $ns_gw has no --events file: start it with --events $ex_dir/events.jsonl, so the check can see the connection"
        else
            ex_fail "$label: answered, but tplab proxy's events (${ev##* events=}) have no connection from $ex_curl_from: the request did not go through the proxy"
        fi
        return 0
    fi
    mode=$(sed -n 's/.*mode=\([^ ]*\).*/\1/p' <<<"$ev")
    dst=$(sed -n 's/.*original_dst=\([^ ]*\).*/\1/p' <<<"$ev")
    by=$(sed -n 's/.*recovered_by=\([^ ]*\).*/\1/p' <<<"$ev")
    up=$(sed -n 's/.*upstream_local=\([^ ]*\).*/\1/p' <<<"$ev")
    if [[ "$mode" != "$want_mode" ]]; then
        ex_fail "$label: tplab proxy accepted $ex_curl_from in mode $mode, want $want_mode"
    elif [[ "$dst" != "$want_dst" || "$by" != "$want_by" ]]; then
        ex_fail "$label: tplab proxy recovered the original destination $dst by $by, want $want_dst by $want_by"
    elif [[ -z "$seen" || "$seen" != "$up" ]]; then
        ex_fail "$label: the server saw this request from ${seen:-nobody}, but the proxy connected from $up"
    else
        ex_pass "$label: through tplab proxy ($mode, original destination $dst by $by); the server saw $seen, the proxy's own connection"
    fi
}

# ex_check_relay_flow PORT: exercise 6: the client's request went through relay.py itself, the
# process listening on PORT: its log (its stdout) shows the client's connection accepted for
# the server's address (getsockname: only a transparent listener gets that), and the server
# logged this request's token from the gateway.
ex_check_relay_flow() {
    local port=$1 url="http://$server_ip4/" label seen ev pids
    label="client -> $url"
    ex_answered "$ns_client" "$server_ip4:$lab_http_port" server "$label" || return 0
    seen=$(ex_seen_by "$ex_dir/server.http.log")
    pids=$(ip netns exec "$ns_gw" ss -Hltnp "sport = :$port" 2>/dev/null |
        grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | tr '\n' ' ') || pids=""
    if [[ -z "$pids" ]]; then
        ex_fail "$label: answered, but nothing listens on $port in $ns_gw: relay.py must serve it"
        return 0
    fi
    # shellcheck disable=SC2086  # one pid per word
    ev=$("$lab_py" "$ex_home/evidence.py" relay-line "$ex_curl_from" $pids) || ev="none (evidence.py failed)"
    case "$ev" in
    "ok $server_ip4:$lab_http_port")
        if [[ "${seen%:*}" == "$gw_server_ip4" ]]; then
            ex_pass "$label: through relay.py (it accepted $ex_curl_from for $server_ip4:$lab_http_port); the server saw $seen"
        else
            ex_fail "$label: relay.py accepted it, but the server saw this request from ${seen:-nobody}, not from the gateway"
        fi
        ;;
    ok*) ex_fail "$label: relay.py accepted $ex_curl_from for ${ev#ok }, want $server_ip4:$lab_http_port" ;;
    not-relay*) ex_fail "$label: answered, but port $port is served by '${ev#not-relay }', not by relay.py: the exercise is to fix relay.py" ;;
    no-log*) ex_fail "$label: relay.py's output is not a file: start it with >relay.log 2>&1 so the check can read it" ;;
    *) ex_fail "$label: answered, but relay.py's log (${ev#none }) has no 'accepted' line for $ex_curl_from: it did not go through relay.py" ;;
    esac
}

# ex_check_gateway_flow VIA: the gateway's own request to the server is answered by the server,
# VIA `proxy` (tplab proxy's events show it, in redirect mode) or `direct` (the server saw the
# gateway's own connection, no proxy in between).
ex_check_gateway_flow() {
    local via=$1 url="http://$server_ip4/" label seen ev
    label="gateway -> $url"
    ex_answered "$ns_gw" "$server_ip4:$lab_http_port" server "$label" || return 0
    seen=$(ex_seen_by "$ex_dir/server.http.log")
    if [[ "$via" == proxy ]]; then
        # shellcheck disable=SC2046
        ev=$("$lab_py" "$ex_home/evidence.py" proxy-event "$ex_curl_from" $(ex_gw_pids)) || ev=""
        ex_match_event "$label" redirect SO_ORIGINAL_DST "$server_ip4:$lab_http_port" "$seen" "$ev"
    elif [[ "$seen" == "$ex_curl_from" ]]; then
        ex_pass "$label: served by server, directly (the server saw $seen, the request's own address)"
    else
        ex_fail "$label: answered, but the server saw ${seen:-nobody}, not the request's own $ex_curl_from"
    fi
}

# ex_check_gateway_service: the client reaches the gateway's own service on port 2222, directly
# (the service saw the client's own address: no proxy in between).
ex_check_gateway_service() {
    local url="http://$gw_client_ip4:$ex_gw_service_port/" label seen
    label="client -> the gateway's own service $url"
    ex_answered "$ns_client" "$gw_client_ip4:$ex_gw_service_port" gw "$label" || return 0
    seen=$(ex_seen_by "$ex_dir/gw.http.log")
    if [[ "$seen" == "$ex_curl_from" ]]; then
        ex_pass "$label: served by gw, directly (it saw the client's $seen)"
    else
        ex_fail "$label: answered, but the service saw ${seen:-nobody}, not the client's $ex_curl_from: it went through the proxy"
    fi
}

# ex_proxy_ports MODE: the ports the gateway's rules send MODE's traffic to (iptables TPROXY
# --on-port / REDIRECT --to-ports, nft `tproxy to :P` / `redirect to :P`), else the ports the
# proxies in the gateway listen on. One per line; nothing if there is neither.
ex_proxy_ports() {
    local table=mangle target=TPROXY option=--on-port nft_word=tproxy ports
    if [[ "$1" == redirect ]]; then
        table=nat target=REDIRECT option=--to-ports nft_word=redirect
    fi
    ports=$({
        ip netns exec "$ns_gw" iptables-save -t "$table" 2>/dev/null |
            sed -n "s/.* -j $target .*$option \([0-9]*\).*/\1/p"
        ip netns exec "$ns_gw" nft list ruleset 2>/dev/null |
            sed -n "s/.*$nft_word \(ip \)\{0,1\}to [0-9.]*:\([0-9]*\).*/\2/p"
    } | sort -un) || true
    if [[ -z "$ports" ]]; then
        ports=$(ip netns exec "$ns_gw" ss -Hltnp 2>/dev/null |
            awk '/"tplab"|relay\.py|"python3"/ { n = split($4, a, ":"); print a[n] }' | sort -un) || true
    fi
    printf '%s\n' "$ports" | sed '/^$/d'
}

# ex_doctor_no_fix: `--no-fix` if this tplab's doctor has it (it names a fault without printing
# the command that fixes it), else nothing.
ex_doctor_no_fix() {
    # Read the whole help first: `| grep -q` would stop reading at the match, and the SIGPIPE of
    # the rest of the help fails the pipeline under pipefail.
    local help
    help=$(tplab doctor --help 2>/dev/null) || true
    [[ "$help" == *--no-fix* ]] && printf '%s' --no-fix
    return 0
}

# ex_check_doctor MODE: tplab doctor --mode MODE --port P for each port P the gateway's rules
# send to. Its FAIL findings explain a failed flow, so they are FAIL lines when a flow above
# failed; when every flow went the right way, they are NOTE lines (the traffic is the evidence:
# a valid fix doctor does not recognise still passes).
ex_check_doctor() {
    local mode=$1 ports port rc fails no_fix line
    no_fix=$(ex_doctor_no_fix)
    ports=$(ex_proxy_ports "$mode")
    if [[ -z "$ports" ]]; then
        if ((lab_fail_count > 0)); then
            ex_fail "tplab doctor: no rule sends traffic to a proxy port, and no proxy listens"
        fi
        return 0
    fi
    for port in $ports; do
        rc=0
        # shellcheck disable=SC2086  # no_fix: one word or none
        ip netns exec "$ns_gw" tplab doctor --mode "$mode" --port "$port" --json $no_fix \
            >"$ex_private_dir/doctor.json" 2>&1 || rc=$?
        fails=$("$lab_py" - "$ex_private_dir/doctor.json" <<'PY'
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print(f"(unreadable doctor output: {e})"); sys.exit(0)
for f in data.get("findings", []):
    if str(f.get("severity")).lower() == "fail":
        print(f"{f['id']}: {f.get('summary', '')}")
PY
)
        if [[ -z "$fails" ]]; then
            ex_pass "tplab doctor --mode $mode --port $port: no failure (exit status $rc)"
            continue
        fi
        while IFS= read -r line; do
            if ((lab_fail_count > 0)); then
                ex_fail "tplab doctor --mode $mode --port $port: $line"
            else
                ex_note "tplab doctor --mode $mode --port $port: $line (the traffic went the right way: not counted)"
            fi
        done <<<"$fails"
    done
}
