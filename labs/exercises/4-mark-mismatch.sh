# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom, ex_hints: read by labs/exercise.sh
# Exercise 4: TPROXY sets 0x10/0x10 (hex), the ip rule says fwmark 10/10 (decimal: 0xa/0xa).
ex_title="the mark TPROXY sets and the mark the ip rule matches"
ex_symptom="Someone moved the TPROXY mark to bit 4, \"to make room for other tools\". Since
then the client's requests to http://198.51.100.2/ time out."

ex_setup() {
    ex_policy_routing 10/10 "$tproxy_table"
    ex_divert_chain 0x10
    ex_tproxy_rule "$ex_tproxy_port" 0x10/0x10
    ex_tproxy_proxy "$ex_tproxy_port"
}

ex_check() {
    ex_check_proxied_flow tproxy getsockname
    ex_check_doctor tproxy
}

# The hint ladder (exercise.sh N --hint): nudges toward the evidence, never the fix.
ex_hints=(
    "Read the mark twice: the one TPROXY sets (iptables-save -t mangle) and the one the ip rule matches (ip rule). Are they the same number?"
    "Run {doctor} --mode tproxy --port 15002 on the gateway: its mark line compares the two for you."
    "ip rule reads a fwmark as decimal unless it starts with 0x; iptables prints marks in hex."
)
