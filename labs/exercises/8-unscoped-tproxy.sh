# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom, ex_hints: read by labs/exercise.sh
# Exercise 8: the tutorial's unscoped `-p tcp -j TPROXY` rule with no socket guard in front.
ex_title="the tutorial's one-line TPROXY rule"
ex_symptom="The gateway was set up from a tutorial: one TPROXY rule for all TCP, the ip rule,
the local route, tplab proxy. Now nothing works: the client's requests to
http://198.51.100.2/ time out, so do the gateway's own requests there, and the
gateway's own service on http://192.0.2.1:2222/ (think: ssh into the gateway) hangs."

ex_setup() {
    ex_gateway_service
    ex_policy_routing "$tproxy_mark/$tproxy_mark" "$tproxy_table"
    run "$ns_gw" iptables -t mangle -A PREROUTING -p tcp -j TPROXY --on-port "$ex_tproxy_port" \
        --tproxy-mark "$tproxy_mark/$tproxy_mark"
    ex_tproxy_proxy "$ex_tproxy_port"
}

ex_check() {
    ex_check_proxied_flow tproxy getsockname
    ex_check_gateway_flow direct
    ex_check_gateway_service
    ex_check_doctor tproxy
}

# The hint ladder (exercise.sh N --hint): nudges toward the evidence, never the fix.
ex_hints=(
    "Capture on the gateway's veth-s while the gateway itself requests http://198.51.100.2/ (tcpdump -ni veth-s port 80): the server answers; where does the answer go? Compare the TPROXY rule's counter."
    "The one rule catches every TCP packet that comes in: the client's SYNs, but also the replies to the gateway's own connections and the connections to the gateway itself. Which of those belong to the proxy?"
    "Read the kernel's tproxy documentation on the 'socket' match, and scope the rule to what should be intercepted. {doctor} --mode tproxy --port 15002 helps check the rest."
)
