# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom: read by labs/exercise.sh
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
    local before after
    ex_check_doctor redirect nat REDIRECT --to-ports
    ex_check_client_flow
    before=$(ex_counter nat OUTPUT REDIRECT)
    ex_check_gateway_flow
    after=$(ex_counter nat OUTPUT REDIRECT)
    if ((after > before)); then
        ex_pass "the gateway's own request went through the proxy (nat OUTPUT REDIRECT: $before -> $after packets)"
    else
        ex_fail "the gateway's own request was not redirected (nat OUTPUT REDIRECT counter: $before -> $after): it must still go through the proxy"
    fi
}
