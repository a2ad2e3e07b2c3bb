# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom, ex_hints: read by labs/exercise.sh
# Exercise 7: REDIRECT of the gateway's own traffic (nat OUTPUT) without the RETURN for the
# proxy's mark: the proxy's upstream connection is redirected back into the proxy.
ex_title="REDIRECT for the gateway's own traffic too"
ex_symptom="The gateway runs tplab proxy --mode redirect --mark 2 and REDIRECTs port 80, for
the client and, since this morning, for its own traffic too (nat OUTPUT). Since then every
request to http://198.51.100.2/ fails at once: the client's are reset, the gateway's own
are refused."

ex_setup() {
    run "$ns_gw" iptables -t nat -A PREROUTING -i veth-c -p tcp --dport "$lab_http_port" \
        -j REDIRECT --to-ports "$ex_redirect_port"
    run "$ns_gw" iptables -t nat -A OUTPUT ! -d 127.0.0.0/8 -p tcp --dport "$lab_http_port" \
        -j REDIRECT --to-ports "$ex_redirect_port"
    start_bg "$ns_gw" proxy.log tplab proxy --mode redirect --listen "[::]:$ex_redirect_port" \
        --mark 2 --events events.jsonl
    wait_listening "$ns_gw" "$ex_redirect_port" || { cat proxy.log >&2; die "tplab proxy did not listen"; }
}

ex_check() {
    ex_check_proxied_flow redirect SO_ORIGINAL_DST
    ex_check_gateway_flow proxy
    ex_check_doctor redirect
}

# The hint ladder (exercise.sh N --hint): nudges toward the evidence, never the fix.
ex_hints=(
    "Look at the proxy's events (events.jsonl): what is the original destination of the connections it refuses, and who is their client?"
    "Count again: iptables -t nat -L OUTPUT -v -n before and after one request from the gateway. How many packets does one request push through the REDIRECT rule, and whose are they?"
    "The proxy marks its own upstream connections (--mark 2). Which rule could use that mark, and where must it sit?"
)
