# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom, ex_hints: read by labs/exercise.sh
# Exercise 1: the original text's own recipe, with its own numbers: table 1, mark 1/1, the rule
# says --on-port 12345, the listener (its C code) binds port 555.
ex_title="the original text's recipe: the rule and the listener disagree"
ex_symptom="The gateway was set up by the book (table 1, mark 1/1, a TPROXY rule, a transparent
listener). The client's requests to http://198.51.100.2/ time out. The proxy logs nothing."

ex_setup() {
    ex_policy_routing 1/1 1
    ex_divert_chain 1
    ex_tproxy_rule 12345 1/1
    ex_tproxy_proxy 555
}

ex_check() {
    ex_check_proxied_flow tproxy getsockname
    ex_check_doctor tproxy
}

# The hint ladder (exercise.sh N --hint): nudges toward the evidence, never the fix.
ex_hints=(
    "Watch a SYN on its way: does the proxy's log (proxy.log) or events.jsonl show any connection at all? Then compare two numbers on the gateway: where the TPROXY rule sends packets, and where something listens (iptables-save -t mangle, ss -ltnp)."
    "Run {doctor} --mode tproxy --port P on the gateway for the port the rule names, then for the port the proxy listens on: which of the two has no listener?"
    "A rule and a listener must agree on one port. Either side may move; --check sends a real request either way."
)
