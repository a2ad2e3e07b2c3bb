# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom: read by labs/exercise.sh
# Exercise 5: src_valid_mark=1, as wg-quick sets it: TPROXY's marked SYN fails the source check.
ex_title="a sysctl another tool set (wg-quick)"
ex_symptom="The gateway worked. Then a WireGuard tunnel was brought up on it with wg-quick and
taken down again. Since then the client's requests to http://198.51.100.2/ time out; the
rules, the routes and the proxy are exactly as before."

ex_setup() {
    ex_tproxy_gateway
    run "$ns_gw" sysctl -qw net.ipv4.conf.all.src_valid_mark=1
}

ex_check() {
    ex_check_doctor tproxy mangle TPROXY --on-port
    ex_check_client_flow
}
