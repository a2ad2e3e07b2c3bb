# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom, ex_hints: read by labs/exercise.sh
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
    ex_check_proxied_flow tproxy getsockname
    ex_check_doctor tproxy
}

# The hint ladder (exercise.sh N --hint): nudges toward the evidence, never the fix.
ex_hints=(
    "Rules, routes and proxy are unchanged, so look at what else decides whether a marked packet is accepted: the kernel's per-interface settings (sysctl net.ipv4.conf)."
    "Run {doctor} --mode tproxy --port 15002 on the gateway and read every line that is not ok, not only the tproxy.* ones."
    "wg-quick changes one sysctl that makes the reverse-path check use the packet's mark. With TPROXY's mark, the check sends the SYN nowhere."
)
