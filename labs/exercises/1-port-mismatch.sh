# shellcheck shell=bash disable=SC2034,SC2154  # ex_title, ex_symptom: read by labs/exercise.sh
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
    ex_check_doctor tproxy mangle TPROXY --on-port
    ex_check_client_flow
}
