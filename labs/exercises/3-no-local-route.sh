# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom, ex_hints: read by labs/exercise.sh
# Exercise 3: the ip rule is there, but its table has no local route.
ex_title="TPROXY without the local route"
ex_symptom="The client's requests to http://198.51.100.2/ time out. \`ip rule\` on the gateway
looks right, and so does the TPROXY rule."

ex_setup() {
    ex_tproxy_gateway
    run "$ns_gw" ip route del local 0.0.0.0/0 dev lo table "$tproxy_table"
}

ex_check() {
    ex_check_proxied_flow tproxy getsockname
    ex_check_doctor tproxy
}

# The hint ladder (exercise.sh N --hint): nudges toward the evidence, never the fix.
ex_hints=(
    "ip rule sends the marked packets to table 100. What is in table 100? (ip route show table 100, or ip route get ... mark 0x1)"
    "Run {doctor} --mode tproxy --port 15002 on the gateway and read its tproxy.* lines."
    "A table that is looked up but holds no route sends the packet back to the next rule: the packet is forwarded, not delivered to this host."
)
