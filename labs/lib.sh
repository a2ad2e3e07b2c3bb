# shellcheck shell=bash
# Shared helpers for the tplab labs: throwaway namespaces, the standard client-gateway-server
# topology, background jobs under timeout, PASS/FAIL checks, and a cleanup that runs on every exit.
# Modelled on the kernel's tools/testing/selftests/net/lib.sh. Source it; labs use set -euo pipefail.

# Tunables (override from the environment).
: "${LAB_PREFIX:=tpl}"    # namespaces are ${LAB_PREFIX}-client, -gw, -server
: "${LAB_TIMEOUT:=120}"   # seconds any background job may live (it runs under timeout)
: "${LAB_WAIT:=10}"       # seconds to wait for a listener, a log line, a process to stop
: "${LAB_OUTPUT:=}"       # keep logs and events in this directory (default: a temp dir, removed)
: "${LAB_VERBOSE:=0}"     # 1: also show the setup commands that build the topology
: "${LAB_PAUSE:=0}"       # 1: stop at each pause_here until Enter, to explore from another shell

readonly lab_skip_code=4  # kselftest convention: 4 means skipped

lab_dir=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
repo_dir=${lab_dir%/*}

ns_client="${LAB_PREFIX}-client"
ns_gw="${LAB_PREFIX}-gw"
ns_server="${LAB_PREFIX}-server"
ns_proxy="${LAB_PREFIX}-proxy"    # only in labs with a separate proxy box (add_proxy_box)

# The standard topology's addresses (documentation ranges: RFC 5737, RFC 3849).
client_ip4=192.0.2.2
client_ip6=2001:db8:1::2
gw_client_ip4=192.0.2.1
gw_client_ip6=2001:db8:1::1
gw_server_ip4=198.51.100.1
gw_server_ip6=2001:db8:2::1
server_ip4=198.51.100.2
server_ip6=2001:db8:2::2
gw_proxy_ip4=203.0.113.1     # the proxy box's link (add_proxy_box)
gw_proxy_ip6=2001:db8:3::1
proxy_ip4=203.0.113.2
proxy_ip6=2001:db8:3::2

# The proxies' settings, the same in every lab (each lab's drawing shows them): the port of
# tplab proxy --mode redirect (where REDIRECT and DNAT send connections), the port of --mode tproxy
# (TPROXY --on-port), the mark TPROXY sets and the ip rule matches, and the routing table whose
# "local" route delivers the marked packets to this host.
# shellcheck disable=SC2034  # read by the labs
readonly redirect_port=15001 tproxy_port=15002 tproxy_mark=0x1 tproxy_table=100

lab_ns_list=()      # namespaces to delete on exit
lab_pids=()         # background jobs to stop on exit
lab_deferred=()     # extra cleanup commands, run last-in first-out
lab_applied_rules=()  # "NS ARGS..." of each tplab rules --apply, undone before NS is deleted
lab_quoted=""       # result of lab_quote
lab_pass_count=0
lab_fail_count=0
lab_cleaned=0
lab_work=""         # directory for logs and events; see init_workdir
bg_pid=""           # pid of the job start_bg started last
proxy_pid=""        # the running tplab proxy (start_proxy), and the namespace it runs in
proxy_ns=""

# Keep the script's own stdout on fd 3 and stderr on fd 4: `run NS CMD >file` still shows the
# command, and a trap that fires inside a redirected function still reaches the terminal.
exec 3>&1 4>&2

#### Output and checks ########################################################

log() {
    printf '%s\n' "$*"
}

section() {
    printf '\n== %s ==\n' "$*"
}

die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

skip() {
    printf 'SKIP: %s\n' "$*"
    exit "$lab_skip_code"
}

pass() {
    lab_pass_count=$((lab_pass_count + 1))
    printf 'PASS: %s\n' "$*"
}

fail() {
    lab_fail_count=$((lab_fail_count + 1))
    printf 'FAIL: %s\n' "$*"
}

# check NAME CMD...: PASS if CMD succeeds, FAIL otherwise.
check() {
    local name=$1
    shift
    if "$@"; then
        pass "$name"
    else
        fail "$name"
    fi
}

# check_eq NAME GOT WANT: PASS if the two strings are equal; FAIL shows both.
check_eq() {
    local name=$1 got=$2 want=$3
    if [[ "$got" == "$want" ]]; then
        pass "$name ($got)"
    else
        fail "$name: got '${got}', want '${want}'"
    fi
}

# check_contains NAME HAYSTACK NEEDLE: PASS if NEEDLE occurs in HAYSTACK.
check_contains() {
    local name=$1 haystack=$2 needle=$3
    if [[ "$haystack" == *"$needle"* ]]; then
        pass "$name"
    else
        fail "$name: '${needle}' not in '${haystack}'"
    fi
}

# pause_here: with LAB_PAUSE=1 on a terminal, wait for Enter, so the namespaces can be
# explored from another shell (ip netns exec ...). Background jobs still end after LAB_TIMEOUT.
pause_here() {
    [[ "$LAB_PAUSE" == 1 && -t 0 ]] || return 0
    printf '\n-- paused: explore with e.g. ip netns exec %s iptables -t nat -L -n -v; Enter continues --\n' \
        "$ns_gw" >&3
    read -r _ || true
}

# lab_exit: print the tally and exit 1 if any check failed, 0 otherwise.
lab_exit() {
    printf '\n%d passed, %d failed\n' "$lab_pass_count" "$lab_fail_count"
    if ((lab_fail_count > 0)); then
        exit 1
    fi
    exit 0
}

#### Requirements #############################################################

require_root() {
    if ((EUID != 0)); then
        skip "needs root (network namespaces, iptables): run it with sudo"
    fi
}

# require_tool TOOL...: skip, naming every missing tool and the Debian package that has it.
require_tool() {
    local tool package missing=() packages=()
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 && continue
        missing+=("$tool")
        case "$tool" in
        ip | ss | tc | bridge) package=iproute2 ;;
        timeout) package=coreutils ;;
        conntrack) package=conntrack ;;
        nft) package=nftables ;;
        *) package=$tool ;;
        esac
        [[ " ${packages[*]} " == *" $package "* ]] || packages+=("$package")
    done
    if ((${#missing[@]} > 0)); then
        skip "missing tool(s): ${missing[*]} (Debian: apt-get install ${packages[*]})"
    fi
}

# lab_py: the system python3 (Debian's /usr/bin/python3), else the first on PATH.
if [[ -x /usr/bin/python3 ]]; then
    lab_py=/usr/bin/python3
else
    lab_py=python3
fi

# tplab_bin: path of the tplab binary: $TPLAB, else build/cli/tplab in this repo, else PATH.
tplab_bin() {
    local candidate
    if [[ -n "${TPLAB:-}" ]]; then
        [[ -x "$TPLAB" ]] || { printf 'ERROR: TPLAB=%s is not an executable file\n' "$TPLAB" >&2; return 1; }
        candidate=$TPLAB
    elif [[ -x "$repo_dir/build/cli/tplab" ]]; then
        candidate=$repo_dir/build/cli/tplab
    elif candidate=$(command -v tplab 2>/dev/null); then
        :
    else
        printf 'ERROR: tplab binary not found. Build it first:\n' >&2
        printf '  cmake -S %s -B %s/build -DTPLAB_BUILD_TESTS=OFF && cmake --build %s/build -j2\n' \
            "$repo_dir" "$repo_dir" "$repo_dir" >&2
        printf 'or point TPLAB at it: sudo TPLAB=/path/to/tplab %s\n' "$0" >&2
        return 1
    fi
    readlink -f "$candidate"
}

# use_tplab: locate tplab and put its directory first on PATH, so labs (and the commands they
# print) can say plain `tplab`. Exits 1 if there is no binary.
use_tplab() {
    local bin
    bin=$(tplab_bin) || exit 1
    if [[ "${bin##*/}" == tplab ]]; then
        PATH="${bin%/*}:$PATH"
        export PATH
    else
        die "TPLAB must name a file called tplab (got $bin)"
    fi
    log "using tplab: $bin"
}

#### Running commands in namespaces ###########################################

# lab_quote ARG...: set lab_quoted to the arguments as one line a shell reads back the same way.
# (It sets a variable rather than printing, so callers need no $(...): see cleanup's comment.)
lab_quote() {
    local arg words=() re="^[A-Za-z0-9_./:=,@%+-]+$"
    for arg in "$@"; do
        if [[ "$arg" =~ $re ]]; then
            words+=("$arg")
        else
            words+=("'${arg//\'/\'\\\'\'}'")
        fi
    done
    lab_quoted="${words[*]}"
}

# show_cmd NS SUFFIX CMD...: print `[ns] # CMD SUFFIX` to the script's stdout (fd 3), where ns
# is NS without the prefix (tpl-gw -> gw). To type it yourself: ip netns exec NS CMD.
# NS `-` is the host's own namespace, shown as [host].
show_cmd() {
    local ns=$1 suffix=$2 label
    shift 2
    lab_quote "$@"
    label=${ns#"${LAB_PREFIX}"-}
    [[ "$ns" == - ]] && label=host
    printf '[%s] # %s%s\n' "$label" "$lab_quoted" "$suffix" >&3
}

# lab_in NS CMD...: run CMD in NS, or in the host's namespace for NS `-`.
lab_in() {
    local ns=$1
    shift
    if [[ "$ns" == - ]]; then
        "$@"
    else
        ip netns exec "$ns" "$@"
    fi
}

# run NS CMD...: show `[ns] # CMD`, then run it in NS (`ip netns exec NS CMD`).
run() {
    local ns=$1
    shift
    show_cmd "$ns" "" "$@"
    lab_in "$ns" "$@"
}

# ns_exec NS CMD...: run CMD in NS without showing it (setup plumbing; LAB_VERBOSE=1 shows it).
ns_exec() {
    local ns=$1
    shift
    if [[ "$LAB_VERBOSE" == 1 ]]; then
        show_cmd "$ns" "" "$@"
    fi
    ip netns exec "$ns" "$@"
}

# busywait TIMEOUT_SECONDS CMD...: poll CMD until it succeeds; 1 if it never does in time.
busywait() {
    local timeout=$1
    shift
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.05
    done
}

# lab_port_listening NS PORT [-t|-u]: true if a TCP (-t, default) or UDP (-u) socket listens on PORT.
lab_port_listening() {
    local ns=$1 port=$2 proto=${3:--t}
    [[ -n "$(ip netns exec "$ns" ss -Hln "$proto" "sport = :$port" 2>/dev/null)" ]]
}

# wait_listening NS PORT [TIMEOUT]: wait until a TCP socket listens on PORT in NS.
wait_listening() {
    local ns=$1 port=$2 timeout=${3:-$LAB_WAIT}
    busywait "$timeout" lab_port_listening "$ns" "$port"
}

# wait_udp_listening NS PORT: wait (LAB_WAIT seconds at most) until a UDP socket is bound to PORT in NS.
wait_udp_listening() {
    busywait "$LAB_WAIT" lab_port_listening "$1" "$2" -u
}

lab_file_has() {
    [[ -f "$1" ]] && grep -qE -- "$2" "$1"
}

# wait_for_line FILE REGEX [TIMEOUT]: wait until a line of FILE matches the extended REGEX.
wait_for_line() {
    local file=$1 regex=$2 timeout=${3:-$LAB_WAIT}
    busywait "$timeout" lab_file_has "$file" "$regex"
}

# start_bg NS LOGFILE CMD...: run CMD in NS (`-`: the host's namespace) in the background under
# `timeout $LAB_TIMEOUT`, stdout and stderr to LOGFILE. Shows the command; sets bg_pid; cleanup
# stops it.
start_bg() {
    local ns=$1 logfile=$2
    shift 2
    show_cmd "$ns" " >$logfile 2>&1 &" "$@"
    # A simple command, not a function, after `&`: so $! is the job itself and signals reach it.
    if [[ "$ns" == - ]]; then
        timeout --kill-after=5 "$LAB_TIMEOUT" "$@" >"$logfile" 2>&1 </dev/null 9>&- &
    else
        ip netns exec "$ns" timeout --kill-after=5 "$LAB_TIMEOUT" "$@" >"$logfile" 2>&1 </dev/null 9>&- &
    fi
    bg_pid=$!
    lab_pids+=("$bg_pid")
}

lab_pid_gone() {
    ! kill -0 "$1" 2>/dev/null
}

# stop_bg PID [SIGNAL]: send SIGNAL (default TERM) to a start_bg job and wait for it.
# Returns the job's exit status (timeout forwards the signal to the command).
stop_bg() {
    local pid=$1 signal=${2:-TERM} rc=0 i
    kill "-$signal" "$pid" 2>/dev/null || true
    if ! busywait "$LAB_WAIT" lab_pid_gone "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || rc=$?
    for i in "${!lab_pids[@]}"; do
        [[ "${lab_pids[$i]}" == "$pid" ]] && unset 'lab_pids[i]'
    done
    return "$rc"
}

# defer CMD...: run CMD during cleanup (last registered runs first), before the namespaces go.
defer() {
    lab_quote "$@"
    lab_deferred+=("$lab_quoted")
}

#### Namespaces and topology ##################################################

# lab_ns_kill_all NS: stop every process still inside NS (TERM, then KILL), and return only once
# each of them is gone from the process table.
lab_ns_kill_all() {
    local ns=$1 pids pid
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z "$pids" ]] && return 0
    # shellcheck disable=SC2086  # one pid per word
    kill -TERM $pids 2>/dev/null || true
    if ! busywait 3 lab_ns_empty "$ns"; then
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        if [[ -n "$pids" ]]; then
            # shellcheck disable=SC2086
            kill -KILL $pids 2>/dev/null || true
        fi
        busywait 3 lab_ns_empty "$ns" || true
    fi
    # A dead process leaves the namespace at once but stays in the process table until its parent
    # reaps it. The child of a killed parent (socat's per-connection fork and its shell) is reaped
    # by init instead, and on some machines init takes a second or two: wait for that too.
    for pid in $pids; do
        busywait 3 lab_pid_gone "$pid" || true
    done
}

lab_ns_empty() {
    [[ -z "$(ip netns pids "$1" 2>/dev/null || true)" ]]
}

lab_ns_exists() {
    local name rest
    while read -r name rest; do
        [[ "$name" == "$1" ]] && return 0
    done < <(ip netns list 2>/dev/null)
    return 1
}

# lab_lock: take the lock for LAB_PREFIX, so a second lab with the same prefix stops with a
# message instead of deleting the first one's namespaces as "stale". The kernel releases the
# lock when this shell exits, however it exits. Background jobs do not inherit it (start_bg).
lab_lock() {
    [[ -n "${lab_lock_file:-}" ]] && return 0
    local dir=/run/lock
    [[ -d "$dir" && -w "$dir" ]] || dir=${TMPDIR:-/tmp}
    lab_lock_file="$dir/tplab-lab-${LAB_PREFIX}.lock"
    exec 9>"$lab_lock_file"
    if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
        die "another lab is running with LAB_PREFIX=$LAB_PREFIX; wait for it, or run this one with LAB_PREFIX=something-else"
    fi
}

# create_ns NS...: create fresh namespaces (replacing stale ones of the same name, left by
# an interrupted run), bring lo up, turn IPv6 duplicate address detection off, and record them
# for cleanup.
create_ns() {
    local ns
    lab_lock
    for ns in "$@"; do
        if lab_ns_exists "$ns"; then
            log "removing stale namespace $ns"
            lab_ns_kill_all "$ns"
            ip netns del "$ns"
        fi
        lab_ns_list+=("$ns")
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # Before any link exists, so every interface inherits it: without DAD the link-local
        # addresses are not "tentative", and the first IPv6 connection does not wait ~1 s for
        # neighbour discovery. (add_addr's nodad does the same for the global addresses.)
        ns_exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    done
}

# add_link NS_A IF_A NS_B IF_B: a veth pair from IF_A in NS_A to IF_B in NS_B, both up.
# Created directly inside the namespaces, so the names never clash with the host's.
add_link() {
    local ns_a=$1 if_a=$2 ns_b=$3 if_b=$4
    if [[ "$LAB_VERBOSE" == 1 ]]; then
        printf '# ip link add %s netns %s type veth peer name %s netns %s\n' \
            "$if_a" "$ns_a" "$if_b" "$ns_b" >&3
    fi
    ip link add "$if_a" netns "$ns_a" type veth peer name "$if_b" netns "$ns_b"
    ip -n "$ns_a" link set "$if_a" up
    ip -n "$ns_b" link set "$if_b" up
}

# add_addr NS IF CIDR...: add the addresses; IPv6 ones with nodad, so they are usable at once.
add_addr() {
    local ns=$1 ifname=$2 cidr
    shift 2
    for cidr in "$@"; do
        if [[ "$cidr" == *:* ]]; then
            ns_exec "$ns" ip -6 addr add "$cidr" dev "$ifname" nodad
        else
            ns_exec "$ns" ip addr add "$cidr" dev "$ifname"
        fi
    done
}

# add_default_route NS GW_IP...: a default route in NS via each GW_IP (IPv4 or IPv6).
add_default_route() {
    local ns=$1 via
    shift
    for via in "$@"; do
        if [[ "$via" == *:* ]]; then
            ns_exec "$ns" ip -6 route add default via "$via"
        else
            ns_exec "$ns" ip route add default via "$via"
        fi
    done
}

# build_topology: the standard lab network, both address families.
#
#   client                 gw                              server
#   eth0 ---------------- veth-c        veth-s ------------- eth0
#   192.0.2.2/24          192.0.2.1/24  198.51.100.1/24      198.51.100.2/24
#   2001:db8:1::2/64      2001:db8:1::1/64  2001:db8:2::1/64 2001:db8:2::2/64
#
# Client and server route everything via the gateway, which forwards.
build_topology() {
    create_ns "$ns_client" "$ns_gw" "$ns_server"

    add_link "$ns_client" eth0 "$ns_gw" veth-c
    add_link "$ns_gw" veth-s "$ns_server" eth0

    add_addr "$ns_client" eth0 "$client_ip4/24" "$client_ip6/64"
    add_addr "$ns_gw" veth-c "$gw_client_ip4/24" "$gw_client_ip6/64"
    add_addr "$ns_gw" veth-s "$gw_server_ip4/24" "$gw_server_ip6/64"
    add_addr "$ns_server" eth0 "$server_ip4/24" "$server_ip6/64"

    add_default_route "$ns_client" "$gw_client_ip4" "$gw_client_ip6"
    add_default_route "$ns_server" "$gw_server_ip4" "$gw_server_ip6"

    ns_exec "$ns_gw" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    log "topology: $ns_client ($client_ip4) -- $ns_gw ($gw_client_ip4 | $gw_server_ip4) -- $ns_server ($server_ip4), IPv6 too"
}

# add_proxy_box: a fourth namespace, the proxy box, on its own link beside the gateway:
#
#   gw veth-p 203.0.113.1/24, 2001:db8:3::1/64 ---- proxy eth0 203.0.113.2/24, 2001:db8:3::2/64
#
# Its default route goes via the gateway, so it reaches the client and the server through it.
add_proxy_box() {
    create_ns "$ns_proxy"
    add_link "$ns_gw" veth-p "$ns_proxy" eth0
    add_addr "$ns_gw" veth-p "$gw_proxy_ip4/24" "$gw_proxy_ip6/64"
    add_addr "$ns_proxy" eth0 "$proxy_ip4/24" "$proxy_ip6/64"
    add_default_route "$ns_proxy" "$gw_proxy_ip4" "$gw_proxy_ip6"
    log "proxy box: $ns_proxy ($proxy_ip4, $proxy_ip6) on $ns_gw's veth-p ($gw_proxy_ip4, $gw_proxy_ip6)"
}

# lab_has_proxy_box: true while the proxy box (add_proxy_box) is part of the topology.
lab_has_proxy_box() {
    [[ " ${lab_ns_list[*]} " == *" $ns_proxy "* ]]
}

#### Work directory and the name-answering server #############################

# init_workdir: set lab_work, the directory for logs and events, and cd into it, so the
# commands a lab shows can use short relative file names. It is $LAB_OUTPUT if set (kept),
# else a fresh temp dir (removed by cleanup). Call it once, not in $(...).
init_workdir() {
    [[ -n "$lab_work" ]] && return 0
    if [[ -n "$LAB_OUTPUT" ]]; then
        mkdir -p "$LAB_OUTPUT"
        lab_work=$(readlink -f "$LAB_OUTPUT")
    else
        lab_work=$(mktemp -d "${TMPDIR:-/tmp}/tplab-lab.XXXXXX")
    fi
    cd "$lab_work" || die "cannot cd to $lab_work"
}

# The name server: answers every GET with "served by NAME", so a reply proves which host it came
# from, and logs one line per request with the peer it saw (the address a proxy connected from).
lab_name_server_py='
import http.server, socket, sys

name, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

def endpoint(sockaddr):
    host, port = sockaddr[0], sockaddr[1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"served by {name}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(f"{name}: peer={endpoint(self.connection.getpeername())}"
              f" local={endpoint(self.connection.getsockname())} {fmt % args}", flush=True)

class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

print(f"{name}: listening on {endpoint((addr, port))}", flush=True)
Server((addr, port), Handler).serve_forever()
'

# start_name_server NS NAME PORT LOGFILE [ADDR]: an HTTP server in NS that replies
# "served by NAME" and logs `NAME: peer=ADDR:PORT local=ADDR:PORT "GET / ..."` per request.
# ADDR defaults to :: (dual-stack). Waits until it listens; sets bg_pid.
start_name_server() {
    local ns=$1 name=$2 port=$3 logfile=$4 addr=${5:-::}
    local script=name_server.py
    init_workdir
    [[ "$PWD" == "$lab_work" ]] || script="$lab_work/$script"
    printf '%s' "$lab_name_server_py" >"$lab_work/name_server.py"
    start_bg "$ns" "$logfile" "$lab_py" -u "$script" "$name" "$addr" "$port"
    wait_listening "$ns" "$port" || { cat "$logfile" >&2; die "name server in $ns did not listen on $port"; }
}

# start_socat_name_server NS NAME PORT LOGFILE: a raw TCP server (socat) that writes
# "served by NAME" to every connection; for labs that do not speak HTTP. Sets bg_pid.
start_socat_name_server() {
    local ns=$1 name=$2 port=$3 logfile=$4
    start_bg "$ns" "$logfile" socat -d -d "TCP6-LISTEN:$port,ipv6only=0,fork,reuseaddr" \
        "SYSTEM:echo served by $name"
    wait_listening "$ns" "$port" || { cat "$logfile" >&2; die "socat in $ns did not listen on $port"; }
}

# event_field FILE EVENT FIELD [ID]: the FIELD of the first EVENT line in a tplab events file
# (of connection ID if given); empty if there is none. JSON is parsed with python3.
event_field() {
    local file=$1 event=$2 field=$3 id=${4:-}
    "$lab_py" - "$file" "$event" "$field" "$id" <<'EOF'
import json, sys
path, event, field, want_id = sys.argv[1:5]
try:
    lines = open(path).read().splitlines()
except OSError:
    sys.exit(0)
for line in lines:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") != event or (want_id and str(e.get("id")) != want_id):
        continue
    value = e.get(field)
    print("" if value is None else value)
    break
EOF
}

#### Command line and address families #######################################

lab_families=(ipv4 ipv6)   # the families a lab runs; --ipv4 / --ipv6 pick one
lab_out=""                 # --out DIR, if given

# lab_usage: print the running script's header comment, which is its documentation.
lab_usage() {
    local line
    while IFS= read -r line; do
        [[ "$line" == '#!'* ]] && continue
        [[ "$line" == '#'* ]] || break
        line=${line#\#}
        printf '%s\n' "${line# }"
    done <"$0"
}

# shellcheck disable=SC2034  # lab_families is read by the labs
# parse_lab_args "$@": the options every lab takes. --ipv4 or --ipv6 runs one family (default:
# both), --out DIR keeps the run directories, logs and reports in DIR (same as LAB_OUTPUT=DIR),
# -h/--help prints the script's header. Exits 2 on anything else.
parse_lab_args() {
    local want4=0 want6=0
    while (($# > 0)); do
        case "$1" in
        --ipv4 | -4) want4=1 ;;
        --ipv6 | -6) want6=1 ;;
        --out)
            (($# >= 2)) || { printf 'ERROR: --out needs a directory\n' >&2; exit 2; }
            lab_out=$2
            shift
            ;;
        --out=*) lab_out=${1#--out=} ;;
        -h | --help)
            lab_usage
            exit 0
            ;;
        *)
            printf 'ERROR: unknown argument %s (see %s --help)\n' "$1" "$0" >&2
            exit 2
            ;;
        esac
        shift
    done
    if ((want4 && !want6)); then
        lab_families=(ipv4)
    elif ((want6 && !want4)); then
        lab_families=(ipv6)
    fi
    if [[ -n "$lab_out" ]]; then
        LAB_OUTPUT=$lab_out
    fi
}

# setup_lab TOOL...: the start every lab with a report shares (after parse_lab_args): skip unless
# run as root with every TOOL installed and a tplab that has the report command; then enter the
# work directory (init_workdir) and say where it is and how commands are shown.
setup_lab() {
    require_root
    require_tool "$@"
    use_tplab
    report_available || skip "this tplab has no 'report' command: rebuild it (cmake --build build)"
    init_workdir
    log "run directories and logs: $lab_work"
    log "commands are shown as [ns] # CMD; to type one yourself: ip netns exec ${LAB_PREFIX}-<ns> CMD"
}

# use_family ipv4|ipv6: set the names the labs use for one address family:
#   fam, fam_name (IPv4|IPv6), ipt (iptables|ip6tables), ip_f (-4|-6), any_net (0.0.0.0/0|::/0),
#   client_ip, gw_client_ip, gw_server_ip, server_ip, gw_proxy_ip, proxy_ip, and as a URL host
#   (server_host: 198.51.100.2 or [2001:db8:2::2]).
# shellcheck disable=SC2034  # these are read by the labs
use_family() {
    fam=$1
    case "$fam" in
    ipv4)
        fam_name=IPv4 ipt=iptables ip_f=-4 any_net=0.0.0.0/0
        client_ip=$client_ip4 gw_client_ip=$gw_client_ip4 gw_server_ip=$gw_server_ip4 server_ip=$server_ip4
        gw_proxy_ip=$gw_proxy_ip4 proxy_ip=$proxy_ip4
        ;;
    ipv6)
        fam_name=IPv6 ipt=ip6tables ip_f=-6 any_net=::/0
        client_ip=$client_ip6 gw_client_ip=$gw_client_ip6 gw_server_ip=$gw_server_ip6 server_ip=$server_ip6
        gw_proxy_ip=$gw_proxy_ip6 proxy_ip=$proxy_ip6
        ;;
    *) die "use_family: unknown family $fam" ;;
    esac
    server_host=$(url_host "$server_ip")
}

# url_host ADDR: ADDR in brackets if it is IPv6 (for URLs and socat), else ADDR.
url_host() {
    if [[ "$1" == *:* ]]; then
        printf '[%s]' "$1"
    else
        printf '%s' "$1"
    fi
}

# endpoint ADDR PORT: ADDR:PORT or [ADDR]:PORT, the form tplab's events and report use.
endpoint() {
    printf '%s:%s' "$(url_host "$1")" "$2"
}

#### Reading the kernel's state ################################################

# iface_addr NS IFACE FAMILY: the first global address of IFACE in NS (its primary address,
# the one REDIRECT picks), read from the kernel (`ip -j addr show`).
iface_addr() {
    local ns=$1 ifname=$2 family=$3 flag=-4
    [[ "$family" == ipv6 ]] && flag=-6
    ip -n "$ns" -j "$flag" addr show dev "$ifname" scope global | "$lab_py" -c '
import json, sys
for link in json.load(sys.stdin):
    for a in link.get("addr_info", []):
        print(a["local"]); sys.exit(0)'
}

# route_src NS DEST: the source address the kernel in NS picks to reach DEST (`ip route get`).
route_src() {
    local ns=$1 dest=$2
    ip -n "$ns" -j route get "$dest" | "$lab_py" -c '
import json, sys
r = json.load(sys.stdin)
print(r[0].get("prefsrc", "") if r else "")'
}

#### Runs: captures, state snapshots, metadata #################################
#
# One run = one mode and one family, recorded in a run directory that `tplab report` reads:
#   meta.json, NS-IFACE.pcap (tplab capture), events.jsonl (the proxy's), conntrack.txt,
#   sockets.txt, rules.txt, plus client.txt (what the client printed).

readonly lab_http_port=80    # the name server (HTTP; curl)
readonly lab_hold_port=8080  # socat server that waits 1 s before it answers (holds a connection open)
# shellcheck disable=SC2034  # read by the labs
readonly lab_ports="$lab_http_port,$lab_hold_port"  # both, for the rules' -m multiport --dports

lab_points=()        # capture points, "LABEL|NS|IFACE|LANE_A|LANE_B", in path order
lab_capture_pid=""   # the running tplab capture
lab_capture_filter=tcp  # the BPF filter start_capture gives tplab capture (a UDP lab sets udp)

# add_point LABEL NS IFACE LANE_A LANE_B: a capture point (LABEL like gateway:veth-c) on the
# wire between LANE_A and LANE_B (client side first). Add them in path order, client first.
add_point() {
    lab_points+=("$1|$2|$3|$4|$5")
}

# standard_points: the capture points of the client-gateway-server topology, in path order. With
# the proxy box, its link comes between the gateway's two: the proxy's upstream connection goes
# back through the gateway to the server.
standard_points() {
    lab_points=()
    add_point client:eth0 "$ns_client" eth0 client gateway
    add_point gateway:veth-c "$ns_gw" veth-c client gateway
    if lab_has_proxy_box; then
        add_point gateway:veth-p "$ns_gw" veth-p gateway proxy
        add_point proxy:eth0 "$ns_proxy" eth0 gateway proxy
    fi
    add_point gateway:veth-s "$ns_gw" veth-s gateway server
    add_point server:eth0 "$ns_server" eth0 gateway server
}

lab_file_exists() {
    [[ -e "$1" ]]
}

# start_capture RUNDIR [NS:IFACE...]: start `tplab capture` (lab_capture_filter) on the points, or on
# lab_points, writing RUNDIR/NS-IFACE.pcap; returns once every point captures (the ready file),
# so traffic sent afterwards is never missed. Runs in the host's namespace: tplab enters each
# point's namespace itself.
start_capture() {
    local rundir=$1 point entry label ns ifname
    shift
    local ready=capture.ready log="$rundir/capture.log" args=()
    if (($# == 0)); then
        for entry in "${lab_points[@]}"; do
            IFS='|' read -r label ns ifname _ <<<"$entry"
            args+=(--at "$ns:$ifname")
        done
    else
        for point in "$@"; do
            args+=(--at "$point")
        done
    fi
    mkdir -p "$rundir"
    rm -f "$ready"
    start_bg - "$log" tplab capture "${args[@]}" -o "$rundir" -f "$lab_capture_filter" --ready-file "$ready"
    lab_capture_pid=$bg_pid
    if ! busywait "$LAB_WAIT" lab_file_exists "$ready"; then
        cat "$log" >&2
        die "tplab capture did not get ready"
    fi
}

# stop_capture: let the last packets arrive, stop tplab capture with SIGTERM, show its table.
stop_capture() {
    local pid=$lab_capture_pid rc=0
    [[ -n "$pid" ]] || return 0
    sleep 0.1
    stop_bg "$pid" TERM || rc=$?
    lab_capture_pid=""
    rm -f capture.ready
    ((rc == 0)) || log "tplab capture exited with status $rc"
}

# show_capture_table RUNDIR: the table tplab capture printed when it stopped.
show_capture_table() {
    local log="$1/capture.log"
    [[ -f "$log" ]] && grep -v '^tplab: capturing' "$log" | sed 's/^/    /'
    return 0
}

# write_meta RUNDIR LAB MODE TITLE FAMILY LANES: RUNDIR/meta.json for tplab report. LANES is a
# comma-separated list (client,gateway,server); the points are lab_points; the run's name (its
# column heading) is RUNDIR's last component.
write_meta() {
    local rundir=$1 lab=$2 mode=$3 title=$4 family=$5 lanes=$6
    "$lab_py" - "${rundir%/}/meta.json" "$lab" "$mode" "$title" "$family" "$lanes" "${lab_points[@]}" <<'EOF'
import json, sys
path, lab, mode, title, family, lanes, *points = sys.argv[1:]
name = path.rstrip("/").split("/")[-2] if "/" in path else mode
meta = {"name": name, "lab": lab, "mode": mode, "title": title, "family": family,
        "lanes": lanes.split(","), "points": []}
for p in points:
    label, ns, ifname, a, b = p.split("|")
    meta["points"].append({"label": label, "file": f"{ns}-{ifname}.pcap", "between": [a, b]})
with open(path, "w") as f:
    json.dump(meta, f, indent=2)
    f.write("\n")
EOF
}

# lab_ns_state NS CMD...: a section of a state file: `### [ns] CMD`, then CMD's output in NS.
lab_ns_state() {
    local ns=$1
    shift
    lab_quote "$@"
    printf '### [%s] %s\n' "${ns#"${LAB_PREFIX}"-}" "$lab_quoted"
    ip netns exec "$ns" "$@" 2>&1 || true
}

# record_rules NS RUNDIR [nft]: append NS's firewall rules with their counters (iptables-save -c,
# ip6tables-save -c, and `nft list ruleset` if the third argument is nft), its policy-routing
# rules and its non-local routes to RUNDIR/rules.txt.
record_rules() {
    local ns=$1 rundir=$2 with_nft=${3:-}
    {
        lab_ns_state "$ns" iptables-save -c
        lab_ns_state "$ns" ip6tables-save -c
        if [[ "$with_nft" == nft ]]; then
            lab_ns_state "$ns" nft list ruleset
        fi
        lab_ns_state "$ns" ip rule
        lab_ns_state "$ns" ip -6 rule
        printf '### [%s] %s\n' "${ns#"${LAB_PREFIX}"-}" "ip -4 route show table all | grep -v '^local.*table local'"
        ip netns exec "$ns" ip -4 route show table all | grep -v '^local.*table local' || true
        printf '### [%s] %s\n' "${ns#"${LAB_PREFIX}"-}" "ip -6 route show table all | grep -v '^local.*table local'"
        ip netns exec "$ns" ip -6 route show table all | grep -v '^local.*table local' || true
    } >>"$rundir/rules.txt"
}

# record_conntrack NS FILE: NS's conntrack table, both families, to FILE ("unavailable" if
# conntrack-tools is not installed). Entries of closed connections stay in TIME_WAIT for minutes.
record_conntrack() {
    local ns=$1 file=$2
    if ! command -v conntrack >/dev/null 2>&1; then
        printf 'unavailable\n' >"$file"
        return 0
    fi
    {
        ip netns exec "$ns" conntrack -L -f ipv4 2>/dev/null || true
        ip netns exec "$ns" conntrack -L -f ipv6 2>/dev/null || true
    } >"$file"
}

# record_gateway_state NS RUNDIR [nft]: after the traffic, the gateway's conntrack table
# (RUNDIR/conntrack.txt) and its rules with counters and policy routing (RUNDIR/rules.txt).
# Call record_rules again to add another box's rules.
record_gateway_state() {
    local ns=$1 rundir=$2 with_nft=${3:-}
    log "recording $ns's conntrack table, rules with counters and routes: $rundir/conntrack.txt, $rundir/rules.txt"
    record_conntrack "$ns" "$rundir/conntrack.txt"
    : >"$rundir/rules.txt"
    record_rules "$ns" "$rundir" "$with_nft"
}

# record_sockets NS RUNDIR: the TCP and UDP sockets in NS with their processes and details
# (ss -tanpe, ss -uanpe) to RUNDIR/sockets.txt. Take it while a proxied connection is open.
record_sockets() {
    local ns=$1 rundir=$2
    log "recording $ns's sockets while the held connection is open: $rundir/sockets.txt"
    {
        # (stderr dropped: ss -e complains "Failed to find cgroup2 mount" where there is none)
        ip netns exec "$ns" ss -tanpe 2>/dev/null || true
        ip netns exec "$ns" ss -uanpe 2>/dev/null || true
    } >"$rundir/sockets.txt"
}

lab_established() {
    local ns=$1 port=$2
    [[ -n "$(ip netns exec "$ns" ss -Htn state established "sport = :$port" 2>/dev/null)" ]]
}

lab_held_or_gone() {
    lab_established "$1" "$2" || lab_pid_gone "$3"
}

# wait_bg PID [TIMEOUT]: wait for a start_bg job to end by itself; stop it with TERM if it has
# not after TIMEOUT seconds (default LAB_WAIT). Returns the job's exit status.
wait_bg() {
    local pid=$1 timeout=${2:-$LAB_WAIT}
    busywait "$timeout" lab_pid_gone "$pid" || true
    stop_bg "$pid" TERM
}

# start_lab_servers NS LOGDIR: the servers the run traffic goes to, in NS: the HTTP name server
# on port 80 and a socat server on 8080 that waits 1 s, then answers "served by NAME" and
# closes. NAME is the namespace without the prefix; logs go to LOGDIR/NAME.http.log and .hold.log.
start_lab_servers() {
    local ns=$1 logdir=$2 name
    name=${ns#"${LAB_PREFIX}"-}
    mkdir -p "$logdir"
    start_name_server "$ns" "$name" "$lab_http_port" "$logdir/$name.http.log"
    start_bg "$ns" "$logdir/$name.hold.log" socat -d -d \
        "TCP6-LISTEN:$lab_hold_port,ipv6only=0,fork,reuseaddr" "SYSTEM:sleep 1; echo served by $name"
    wait_listening "$ns" "$lab_hold_port" || { cat "$logdir/$name.hold.log" >&2; die "socat in $ns did not listen"; }
}

# send_lab_traffic RUNDIR SOCKETS_NS [DEST_IP]: the traffic of one run, from the client to DEST_IP
# (default: server_ip of use_family): one HTTP request with curl, then a socat connection to the
# hold port that the server keeps open for 1 s; while it is open, the sockets of SOCKETS_NS go
# to RUNDIR/sockets.txt. What the client printed goes to RUNDIR/client.txt (and the screen).
send_lab_traffic() {
    local rundir=$1 sockets_ns=$2 dest=${3:-$server_ip} host hold_pid rc=0 socat_addr=TCP4
    host=$(url_host "$dest")
    [[ "$dest" == *:* ]] && socat_addr=TCP6
    : >"$rundir/client.txt"
    run "$ns_client" curl --noproxy '*' -sS --max-time 5 \
        -w 'curl: connected to %{remote_ip}:%{remote_port}\n' "http://$host:$lab_http_port/" \
        >>"$rundir/client.txt" 2>&1 || true
    start_bg "$ns_client" "$rundir/hold.out" socat -u "$socat_addr:$host:$lab_hold_port,connect-timeout=3" STDOUT
    hold_pid=$bg_pid
    busywait 3 lab_held_or_gone "$ns_server" "$lab_hold_port" "$hold_pid" || true
    if ! lab_established "$ns_server" "$lab_hold_port"; then
        log "(the held connection did not reach the server)"
    fi
    record_sockets "$sockets_ns" "$rundir"
    wait_bg "$hold_pid" 5 || rc=$?
    cat "$rundir/hold.out" >>"$rundir/client.txt"
    printf 'socat: exit status %s\n' "$rc" >>"$rundir/client.txt"
    rm -f "$rundir/hold.out"
    sed 's/^/    /' "$rundir/client.txt"
}

# wait_events_closed FILE N: wait until the proxy's events FILE has N "closed" events.
lab_events_closed() {
    local n
    n=$(grep -c '"event":"closed"' "$1" 2>/dev/null || true)
    ((${n:-0} >= $2))
}
wait_events_closed() {
    busywait "$LAB_WAIT" lab_events_closed "$1" "$2"
}

# teardown_ns NS...: stop everything in the namespaces and delete them now (not at exit), so
# the next run starts from nothing. Jobs started with start_bg in them end with them.
teardown_ns() {
    local ns i
    for ns in "$@"; do
        if lab_ns_exists "$ns"; then
            lab_undo_rules "$ns"
            lab_ns_kill_all "$ns"
            ip netns del "$ns" 2>/dev/null || true
        fi
        for i in "${!lab_ns_list[@]}"; do
            [[ "${lab_ns_list[$i]}" == "$ns" ]] && unset 'lab_ns_list[i]'
        done
    done
    for i in "${!lab_pids[@]}"; do
        if lab_pid_gone "${lab_pids[$i]}"; then
            wait "${lab_pids[$i]}" 2>/dev/null || true
            unset 'lab_pids[i]'
        fi
    done
}

#### One run, start to end ######################################################

# A lab's runs: begin_run, the lab's own rules and start_proxy, run_traffic, end_run. Then
# run_report (on run_dirs), and the checks (check_report, check_path, check_*_interception).

declare -A run_fact=()   # "RUNDIR,name": addresses read back from the kernels during a run
run_dirs=()              # the runs end_run finished, in order

# fresh_rundir RUNDIR: an empty RUNDIR (a relative name in the work directory): a second run
# with the same --out must not append to the first one's events or logs.
fresh_rundir() {
    [[ -n "$1" && "$1" != /* && "$1" != *..* ]] || die "fresh_rundir: $1 is not a run directory name"
    rm -rf -- "$1"
    mkdir -p -- "$1"
}

# begin_run RUNDIR FAMILY [proxy-box]: fresh namespaces (the standard topology, and the proxy box
# if asked), the servers, the capture points (standard_points), and the family's names (use_family).
begin_run() {
    local rundir=$1 family=$2 extra=${3:-}
    fresh_rundir "$rundir"
    use_family "$family"
    build_topology
    start_lab_servers "$ns_server" "$rundir"
    if [[ "$extra" == proxy-box ]]; then
        add_proxy_box
    fi
    standard_points
}

# run_traffic RUNDIR: the run's traffic under capture (capture_traffic, with the sockets of the
# namespace tplab proxy runs in, else the gateway's), then the gateway's conntrack table and
# rules (record_gateway_state) and, with the proxy box, the box's rules and conntrack table too
# (RUNDIR/rules.txt, RUNDIR/conntrack-proxy.txt).
run_traffic() {
    local rundir=$1
    capture_traffic "$rundir" "${proxy_ns:-$ns_gw}"
    record_gateway_state "$ns_gw" "$rundir"
    if lab_has_proxy_box; then
        record_rules "$ns_proxy" "$rundir"
        record_conntrack "$ns_proxy" "$rundir/conntrack-proxy.txt"
    fi
}

# show_client_conntrack RUNDIR: the gateway's conntrack entries for the client's connections
# (from RUNDIR/conntrack.txt), where a NAT rule's mapping can be read.
show_client_conntrack() {
    log "the gateway's conntrack entries for the client's connections (ORIGINAL tuple, then REPLY tuple):"
    grep -F "src=$client_ip " "$1/conntrack.txt" | sed 's/^/    /' || true
}

# end_run RUNDIR LAB MODE TITLE: the end of a run: stop the proxy (a check), write RUNDIR/meta.json
# (titled "TITLE, IPv4" or IPv6), read the kernels' facts for the checks (read_run_facts), add
# RUNDIR to run_dirs, pause_here, and delete the namespaces, so the next run starts from nothing.
end_run() {
    local rundir=$1 lab=$2 mode=$3 title=$4 lanes=client,gateway,server
    if lab_has_proxy_box; then
        lanes=client,gateway,proxy,server
    fi
    stop_proxy "$rundir"
    write_meta "$rundir" "$lab" "$mode" "$title, $fam_name" "$fam" "$lanes"
    read_run_facts "$rundir"
    run_dirs+=("$rundir")
    pause_here
    teardown_ns "${lab_ns_list[@]}"
}

# capture_traffic RUNDIR SOCKETS_NS: captures on lab_points around send_lab_traffic; if the run
# has a proxy (RUNDIR/events.jsonl), waits until it reports both connections closed.
capture_traffic() {
    local rundir=$1 sockets_ns=$2
    start_capture "$rundir"
    send_lab_traffic "$rundir" "$sockets_ns"
    if [[ -f "$rundir/events.jsonl" ]]; then
        wait_events_closed "$rundir/events.jsonl" 2 || log "(the proxy did not report both connections closed)"
    fi
    stop_capture
    show_capture_table "$rundir"
}

# start_proxy NS RUNDIR MODE LISTEN... [-- OPTION...]: tplab proxy in NS with its events in
# RUNDIR/events.jsonl and its log in RUNDIR/proxy.log; waits until it listens (on the port of the
# first LISTEN). OPTIONs after `--` go to tplab proxy as they are (--spoof-source, --mark 2, --udp).
# Sets proxy_pid and proxy_ns.
start_proxy() {
    local ns=$1 rundir=$2 mode=$3 args=() port
    shift 3
    port=${1##*:}
    while (($# > 0)) && [[ "$1" != -- ]]; do
        args+=(--listen "$1")
        shift
    done
    (($# > 0)) && shift
    args+=("$@")
    start_bg "$ns" "$rundir/proxy.log" tplab proxy --mode "$mode" "${args[@]}" --events "$rundir/events.jsonl"
    proxy_pid=$bg_pid
    proxy_ns=$ns
    wait_listening "$ns" "$port" || { cat "$rundir/proxy.log" >&2; die "tplab proxy ($mode) is not listening on $port"; }
}

# stop_proxy RUNDIR: stop the proxy with SIGTERM (it drains, writes a stats event, exits 0).
stop_proxy() {
    local rundir=$1 rc=0
    [[ -n "${proxy_pid:-}" ]] || return 0
    stop_bg "$proxy_pid" TERM || rc=$?
    proxy_pid="" proxy_ns=""
    check_eq "$rundir: tplab proxy exited cleanly on SIGTERM" "$rc" 0
}

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
# named RUN, f = its flow to port 80 (curl), h = its flow to port 8080 (the held socat connection).
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

#### tplab rules, tplab doctor, server logs ####################################

# show_rules NS ARG...: print the rule set `tplab rules ARG...` generates for NS, every line with
# its reason (nothing is applied).
show_rules() {
    local ns=$1
    shift
    run "$ns" tplab rules "$@" | sed 's/^/    /'
}

# apply_rules NS ARG...: `tplab rules ARG... --apply` in NS: it prints each command it runs.
apply_rules() {
    local ns=$1
    shift
    lab_applied_rules+=("$ns $*")  # first: an interrupted --apply must be undone too
    run "$ns" tplab rules "$@" --apply | sed 's/^/    /'
}

# tplab rules --apply keeps a small record per namespace (in /run/tplab) so --remove can undo
# exactly what it did: remove the rules before the namespace goes, or the record outlives it.
lab_undo_rules() {
    local ns=$1 i entry
    for i in "${!lab_applied_rules[@]}"; do
        entry=${lab_applied_rules[$i]}
        [[ "${entry%% *}" == "$ns" ]] || continue
        # shellcheck disable=SC2086  # the recorded arguments are flags without spaces
        ip netns exec "$ns" tplab rules ${entry#* } --remove >/dev/null 2>&1
        unset 'lab_applied_rules[i]'
    done
}

# doctor_json NS FILE ARG...: `tplab doctor ARG... --json --all` in NS, the JSON to FILE; returns
# the doctor's exit status (0 ok, 1 warn, 3 fail) without stopping the lab.
doctor_json() {
    local ns=$1 file=$2 rc=0
    shift 2
    show_cmd "$ns" " >$file" tplab doctor "$@" --json --all
    lab_in "$ns" tplab doctor "$@" --json --all >"$file" 2>&1 || rc=$?
    return "$rc"
}

# doctor_text NS ARG...: `tplab doctor ARG...` in NS as a person reads it; never fails the lab.
doctor_text() {
    local ns=$1
    shift
    run "$ns" tplab doctor "$@" 2>&1 | sed 's/^/    /' || true
}

# doctor_severity FILE ID: the severity of the doctor finding ID in FILE (doctor --json), or
# "absent" if the doctor did not report it.
doctor_severity() {
    "$lab_py" - "$1" "$2" <<'EOF'
import json, sys
path, want = sys.argv[1:3]
try:
    data = json.load(open(path))
except (OSError, ValueError) as e:
    print(f"<unreadable: {e}>"); sys.exit(0)
items = data.get("findings", data.get("checks", [])) if isinstance(data, dict) else data
for f in items:
    if str(f.get("id", "")) == want:
        print(str(f.get("severity", f.get("level", "?"))).lower()); break
else:
    print("absent")
EOF
}

# server_log_peers LOGFILE: the distinct peer addresses (without port) the name server logged,
# one per line, sorted: who the server saw the requests come from.
server_log_peers() {
    sed -n 's/^[^:]*: peer=\(.*\):[0-9]* local=.*/\1/p' "$1" | tr -d '[]' | sort -u
}

#### tplab report ##############################################################

# run_report HEADING: a section HEADING, then `tplab report` on the run_dirs: it shows the text
# report and writes report.txt, report.json and report.html in the work directory.
run_report() {
    local html=()
    section "$1"
    if tplab report --help 2>/dev/null | grep -q -- '--html'; then
        html=(--html report.html)
    else
        log "(this tplab report has no --html yet: no report.html)"
    fi
    run - tplab report "${run_dirs[@]}" --json report.json "${html[@]}" --text report.txt
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

def flow(r, port):
    for f in r["flows"]:
        if port_of(f.get("intended")) == port:
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

#### Cleanup ##################################################################

# cleanup: run deferred commands, stop recorded jobs, stop anything left in our namespaces,
# delete them (their veths, addresses, routes and rules go with them), remove the temp dir.
# Safe to call more than once; keeps the exit status of the script.
#
# Surprise (bash 5.2): a signal that arrives while bash waits for one $(...) of a command is
# handled while bash parses the NEXT $(...) of the same command, and parsing the trap string
# then fails ("interrupt trap: line 2: unexpected EOF while looking for matching `)'"): the
# script dies with status 2 and only the EXIT trap runs. Cleanup still happens, but keep to
# one $(...) per command in labs (assign to a variable first) so Ctrl-C exits 130 cleanly.
cleanup() {
    local rc=$? pid ns i pids inside=""
    ((lab_cleaned)) && return "$rc"
    lab_cleaned=1
    trap '' INT TERM HUP  # a second Ctrl-C must not cut the cleanup short
    set +e
    # Everything running in our namespaces now, to wait for at the end (see lab_ns_kill_all).
    for ns in "${lab_ns_list[@]}"; do
        pids=$(ip netns pids "$ns" 2>/dev/null)
        inside+=" $pids"
    done
    for ((i = ${#lab_deferred[@]} - 1; i >= 0; i--)); do
        eval "${lab_deferred[i]}" >/dev/null 2>&1
    done
    for pid in "${lab_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${lab_pids[@]}"; do
        busywait 3 lab_pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ns in "${lab_ns_list[@]}"; do
        if lab_ns_exists "$ns"; then
            lab_undo_rules "$ns"
            lab_ns_kill_all "$ns"
            ip netns del "$ns" 2>/dev/null
        fi
    done
    for pid in $inside; do
        busywait 3 lab_pid_gone "$pid"
    done
    if [[ -n "$lab_work" && -z "$LAB_OUTPUT" ]]; then
        rm -rf -- "$lab_work"
    fi
    return "$rc"
}

lab_on_signal() {
    local code=$1
    trap - INT TERM HUP
    printf '\ninterrupted: cleaning up\n' >&4 2>/dev/null || true
    cleanup
    exit "$code"
}

trap cleanup EXIT
trap 'lab_on_signal 130' INT
trap 'lab_on_signal 143' TERM
trap 'lab_on_signal 129' HUP   # the terminal went away
