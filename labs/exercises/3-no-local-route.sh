# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom: read by labs/exercise.sh
# Exercise 3: the ip rule is there, but its table has no local route.
ex_title="TPROXY without the local route"
ex_symptom="The client's requests to http://198.51.100.2/ time out. \`ip rule\` on the gateway
looks right, and so does the TPROXY rule."

ex_setup() {
    ex_tproxy_gateway
    run "$ns_gw" ip route del local 0.0.0.0/0 dev lo table "$tproxy_table"
}

ex_check() {
    ex_check_doctor tproxy mangle TPROXY --on-port
    ex_check_client_flow
}
