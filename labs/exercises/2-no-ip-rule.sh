# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom, ex_hints: read by labs/exercise.sh
# Exercise 2: TPROXY marks the SYN, but no ip rule sends marked packets to the local table.
ex_title="TPROXY without its ip rule"
ex_symptom="The client's requests to http://198.51.100.2/ time out. The TPROXY rule's packet
counter rises with every try, and the proxy accepts nothing."

ex_setup() {
    ex_tproxy_gateway
    run "$ns_gw" ip rule del fwmark "$tproxy_mark/$tproxy_mark" lookup "$tproxy_table"
}

ex_check() {
    ex_check_proxied_flow tproxy getsockname
    ex_check_doctor tproxy
}

# The hint ladder (exercise.sh N --hint): nudges toward the evidence, never the fix.
ex_hints=(
    "The TPROXY rule's counter rises (iptables -t mangle -L PREROUTING -v -n), so the SYN is marked. Where does a marked packet go next? Ask the kernel: ip route get 198.51.100.2 from 192.0.2.2 iif veth-c mark 0x1"
    "Run {doctor} --mode tproxy --port 15002 on the gateway and read its tproxy.* lines: which step of the TPROXY path is missing?"
    "Marking is only half of TPROXY: list the policy rules (ip rule) and ask which one would send a packet with that mark to table 100."
)
