# shellcheck shell=bash
# Part of labs/lib.sh, which sources every part in order (source lib.sh, not this file).
# Report checks: the facts read back from the kernels, tplab report, and the checks that
# read its JSON (check_report, check_path, check_nat_interception, check_tproxy_interception).

#### Facts for the checks, and the checks on the report ######################

# read_run_facts RUNDIR: what the kernels say, for the checks (before the namespaces go):
# client, server (eth0's addresses), gw_in (veth-c's primary address), gw_out (the source the
# gateway uses toward the server), replies (how many "served by server" lines the client got);
# with the proxy box, proxy (its eth0 address) and proxy_out (its source toward the server).
read_run_facts() {
    local rundir=$1
    run_fact[$rundir,client]=$(iface_addr "$ns_client" eth0 "$fam")
    run_fact[$rundir,server]=$(iface_addr "$ns_server" eth0 "$fam")
    run_fact[$rundir,gw_in]=$(iface_addr "$ns_gw" veth-c "$fam")
    run_fact[$rundir,gw_out]=$(route_src "$ns_gw" "${run_fact[$rundir,server]}")
    run_fact[$rundir,replies]=$(grep -c '^served by server$' "$rundir/client.txt" || true)
    if lab_has_proxy_box; then
        run_fact[$rundir,proxy]=$(iface_addr "$ns_proxy" eth0 "$fam")
        run_fact[$rundir,proxy_out]=$(route_src "$ns_proxy" "${run_fact[$rundir,server]}")
    fi
}

# report_get RUN EXPR: report_json_get on the report.json run_report wrote, with r = the run
# named RUN, f = its flow to port 80 (curl), h = its flow to port 8080 (the held socat connection);
# through an explicit proxy, the flows whose SOCKS5 or HTTP CONNECT request names those ports.
report_get() {
    report_json_get report.json \
        "(lambda r, f, h: $2)(run('$1'), flow(run('$1'), $lab_http_port), flow(run('$1'), $lab_hold_port))"
}

# check_report RUN WHAT EXPR WANT: PASS "RUN: WHAT" if report_get RUN EXPR prints WANT.
check_report() {
    local rd=$1 what=$2 expr=$3 want=$4 got
    got=$(report_get "$rd" "$expr")
    check_eq "$rd: $what" "$got" "$want"
}

# check_path RUN WHO [ADDR]: the checks every run shares. Both requests were answered by the
# server; the client's packets went to the server's address, and still carried it when they
# reached the gateway; the server saw the connection come from ADDR, described as WHO
# (default: the gateway's source address toward the server, from the kernel's routing).
check_path() {
    local rd=$1 who=$2 saw_from=${3:-${run_fact[$1,gw_out]}} srv
    srv=$(endpoint "${run_fact[$rd,server]}" "$lab_http_port")
    check_eq "$rd: both requests were answered by the server (curl and socat)" "${run_fact[$rd,replies]}" 2
    check_report "$rd" "client:eth0 sees the server's address as destination" \
        'hop(f, "client:eth0")["destination"]' "$srv"
    check_report "$rd" "gateway:veth-c sees the server's address as destination" \
        'hop(f, "gateway:veth-c")["destination"]' "$srv"
    check_report "$rd" "the server saw the connection come from $who" \
        'f["internals"]["server_saw"].rsplit(":", 1)[0].strip("[]")' "$saw_from"
}

# check_nat_interception RUN EXPECTED_LOCAL RULE_TARGET WHAT: the proof that a nat rule (target
# REDIRECT or DNAT) handed RUN's connections to a local proxy by rewriting their destination.
# The accepted socket, and ss while the held connection was open, show EXPECTED_LOCAL (described
# as WHAT); conntrack holds the mapping: its REPLY tuple comes from EXPECTED_LOCAL, its ORIGINAL
# tuple still goes to the server; the proxy read that back with SO_ORIGINAL_DST; the rule counted.
check_nat_interception() {
    local rd=$1 want=$2 target=$3 what=$4 srv got
    srv=$(endpoint "${run_fact[$rd,server]}" "$lab_http_port")
    check_report "$rd" "the accepted socket's local address is $what" \
        'f["internals"]["accepted_local"]' "$want"
    check_report "$rd" "ss, while the held connection is open, shows the same local address" \
        'ss_local(h["internals"]["socket"])' "$want"
    check_report "$rd" "conntrack holds a NAT mapping for the flow" 'f["internals"]["nat"]["present"]' true
    check_report "$rd" "its REPLY tuple comes from $what" \
        'ct_tuples(f["internals"]["nat"]["entry"])[1][0]' "$want"
    check_report "$rd" "its ORIGINAL tuple still goes to the server" \
        'ct_tuples(f["internals"]["nat"]["entry"])[0][1]' "$srv"
    check_report "$rd" "the proxy recovered the server as original destination" \
        'f["internals"]["original_dst"]' "$srv"
    got=$(report_get "$rd" 'f["internals"]["recovered_by"]')
    check_contains "$rd: with a conntrack lookup ($got)" "$got" SO_ORIGINAL_DST
    check_report "$rd" "the nat $target rule's counter moved" \
        "any(' -t nat ' in x and ' $target ' in x for x in f['internals']['rules'])" true
}

# check_tproxy_interception RUN: the proof that TPROXY handed RUN's connections to the proxy
# unchanged. The accepted socket's local address is the server's, and so is the one ss showed
# while the held connection was open; the proxy took the destination from the socket itself
# (getsockname); there is no NAT mapping.
check_tproxy_interception() {
    local rd=$1 srv held
    srv=$(endpoint "${run_fact[$rd,server]}" "$lab_http_port")
    held=$(endpoint "${run_fact[$rd,server]}" "$lab_hold_port")
    check_report "$rd" "the accepted socket's local address is the server's: nothing was rewritten" \
        'f["internals"]["accepted_local"]' "$srv"
    check_report "$rd" "ss, while the held connection is open, shows tplab's socket bound to the server's address" \
        'ss_local(h["internals"]["socket"])' "$held"
    check_report "$rd" "the proxy took the original destination from the socket itself" \
        'f["internals"]["original_dst"] + " by " + f["internals"]["recovered_by"]' "$srv by getsockname"
    check_report "$rd" "there is no NAT mapping for the flow" 'f["internals"]["nat"]["present"]' false
}
#### tplab report ##############################################################

# run_report HEADING [RUNDIR...]: a section HEADING, then `tplab report` on the RUNDIRs (default:
# the run_dirs, in order): it shows the text report and writes report.txt, report.json and
# report.html in the work directory.
run_report() {
    local html=() dirs=("${@:2}")
    ((${#dirs[@]})) || dirs=("${run_dirs[@]}")
    section "$1"
    if tplab report --help 2>/dev/null | grep -q -- '--html'; then
        html=(--html report.html)
    else
        log "(this tplab report has no --html yet: no report.html)"
    fi
    run - tplab report "${dirs[@]}" --json report.json "${html[@]}" --text report.txt
}

# The helpers report_json_get evaluates its expression with (the report JSON's layout is in
# docs/report.md): run(NAME) is the run whose directory (or mode) is NAME; flow(RUN, PORT) its
# TCP flow to that destination port from the client; hop(FLOW, LABEL) the hop at that point;
# ss_local(LINE) the local address of an ss line; ct_tuples(LINE) a conntrack entry's
# [[orig_src, orig_dst], [reply_src, reply_dst]].
lab_report_py='
import json, sys

report = json.load(open(sys.argv[1]))
runs = report["runs"] if isinstance(report, dict) and "runs" in report else report

def run(name):
    for r in runs:
        meta = r.get("meta", {})
        keys = {str(r.get(k, "")).rstrip("/").split("/")[-1] for k in ("dir", "rundir", "run", "name")}
        keys |= {str(r.get("mode", "")), str(meta.get("mode", ""))}
        if name in keys:
            return r
    raise KeyError(f"no run {name}")

def port_of(ep):
    return int(str(ep).rsplit(":", 1)[1]) if ep else None

def target(f):
    """Where the flow went: the destination an explicit proxy was asked for, else the SYN one."""
    e = f.get("explicit")
    if e and " CONNECT " in e.get("request", ""):
        return e["request"].split(" CONNECT ", 1)[1].split()[0]
    return f.get("intended")

def flow(r, port):
    for f in r["flows"]:
        if port_of(target(f)) == port:
            return f
    raise KeyError(f"no flow to port {port}")

def hop(f, label):
    for h in f["hops"]:
        if h.get("point") == label:
            return h
    raise KeyError(f"no hop {label}")

def unmap(ep):
    """[::ffff:192.0.2.1]:80 -> 192.0.2.1:80 (how a dual-stack socket shows an IPv4 peer)."""
    return ep.replace("[::ffff:", "").replace("]", "") if ep and ep.startswith("[::ffff:") else ep

def ss_local(line):
    """The local address of an ss -tan socket line (State Recv-Q Send-Q Local Peer ...)."""
    return unmap(line.split()[3]) if line else None

def ct_tuples(line):
    """A conntrack -L line as two endpoints pairs: [[orig_src, orig_dst], [reply_src, reply_dst]]."""
    t = [{}]
    for w in (line or "").split():
        k, _, v = w.partition("=")
        if k in ("src", "dst", "sport", "dport"):
            if k in t[-1]:
                t.append({})
            t[-1][k] = v
    ep = lambda a, p: (f"[{a}]:{p}" if ":" in a else f"{a}:{p}")
    return [[ep(x["src"], x["sport"]), ep(x["dst"], x["dport"])] for x in t[:2] if len(x) == 4]

def show(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)

try:
    print(show(eval(sys.argv[2])))
except (KeyError, IndexError, TypeError) as e:
    print(f"<{type(e).__name__}: {e}>")
'

# report_json_get FILE EXPR: evaluate EXPR (python, with run/flow/hop above) on the report JSON
# FILE and print it: "" for null, true/false, JSON for objects; `<Error: ...>` if it is absent.
# Example: report_json_get report.json 'hop(flow(run("redirect-ipv4"), 80), "server:eth0")["source"]'
report_json_get() {
    "$lab_py" -c "$lab_report_py" "$1" "$2"
}

# report_available: true if this tplab has the report command.
report_available() {
    tplab report --help >/dev/null 2>&1
}
