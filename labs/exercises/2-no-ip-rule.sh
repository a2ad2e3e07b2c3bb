# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom: read by labs/exercise.sh
# Exercise 2: TPROXY marks the SYN, but no ip rule sends marked packets to the local table.
ex_title="TPROXY without its ip rule"
ex_symptom="The client's requests to http://198.51.100.2/ time out. The TPROXY rule's packet
counter rises with every try, and the proxy accepts nothing."

ex_setup() {
    ex_tproxy_gateway
    run "$ns_gw" ip rule del fwmark "$tproxy_mark/$tproxy_mark" lookup "$tproxy_table"
}

ex_check() {
    ex_check_doctor tproxy mangle TPROXY --on-port
    ex_check_client_flow
}
