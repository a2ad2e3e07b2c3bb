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

# The standard topology's addresses (documentation ranges: RFC 5737, RFC 3849).
client_ip4=192.0.2.2
client_ip6=2001:db8:1::2
gw_client_ip4=192.0.2.1
gw_client_ip6=2001:db8:1::1
gw_server_ip4=198.51.100.1
gw_server_ip6=2001:db8:2::1
server_ip4=198.51.100.2
server_ip6=2001:db8:2::2

lab_ns_list=()      # namespaces to delete on exit
lab_pids=()         # background jobs to stop on exit
lab_deferred=()     # extra cleanup commands, run last-in first-out
lab_quoted=""       # result of lab_quote
lab_pass_count=0
lab_fail_count=0
lab_cleaned=0
lab_work=""         # directory for logs and events; see init_workdir
bg_pid=""           # pid of the job start_bg started last

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
show_cmd() {
    local ns=$1 suffix=$2
    shift 2
    lab_quote "$@"
    printf '[%s] # %s%s\n' "${ns#"${LAB_PREFIX}"-}" "$lab_quoted" "$suffix" >&3
}

# run NS CMD...: show `[ns] # CMD`, then run it in NS (`ip netns exec NS CMD`).
run() {
    local ns=$1
    shift
    show_cmd "$ns" "" "$@"
    ip netns exec "$ns" "$@"
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

lab_port_listening() {
    local ns=$1 port=$2
    [[ -n "$(ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null)" ]]
}

# wait_listening NS PORT [TIMEOUT]: wait until a TCP socket listens on PORT in NS.
wait_listening() {
    local ns=$1 port=$2 timeout=${3:-$LAB_WAIT}
    busywait "$timeout" lab_port_listening "$ns" "$port"
}

lab_file_has() {
    [[ -f "$1" ]] && grep -qE -- "$2" "$1"
}

# wait_for_line FILE REGEX [TIMEOUT]: wait until a line of FILE matches the extended REGEX.
wait_for_line() {
    local file=$1 regex=$2 timeout=${3:-$LAB_WAIT}
    busywait "$timeout" lab_file_has "$file" "$regex"
}

# start_bg NS LOGFILE CMD...: run CMD in NS in the background under `timeout $LAB_TIMEOUT`,
# stdout and stderr to LOGFILE. Shows the command; sets bg_pid; cleanup stops it.
start_bg() {
    local ns=$1 logfile=$2
    shift 2
    show_cmd "$ns" " >$logfile 2>&1 &" "$@"
    ip netns exec "$ns" timeout --kill-after=5 "$LAB_TIMEOUT" "$@" >"$logfile" 2>&1 </dev/null 9>&- &
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

# lab_ns_kill_all NS: stop every process still inside NS (TERM, then KILL).
lab_ns_kill_all() {
    local ns=$1 pids
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
# an interrupted run), bring lo up, and record them for cleanup.
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

# add_addr NS IF CIDR: add an address; IPv6 ones with nodad, so they are usable at once.
add_addr() {
    local ns=$1 ifname=$2 cidr=$3
    if [[ "$cidr" == *:* ]]; then
        ns_exec "$ns" ip -6 addr add "$cidr" dev "$ifname" nodad
    else
        ns_exec "$ns" ip addr add "$cidr" dev "$ifname"
    fi
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

    add_addr "$ns_client" eth0 "$client_ip4/24"
    add_addr "$ns_client" eth0 "$client_ip6/64"
    add_addr "$ns_gw" veth-c "$gw_client_ip4/24"
    add_addr "$ns_gw" veth-c "$gw_client_ip6/64"
    add_addr "$ns_gw" veth-s "$gw_server_ip4/24"
    add_addr "$ns_gw" veth-s "$gw_server_ip6/64"
    add_addr "$ns_server" eth0 "$server_ip4/24"
    add_addr "$ns_server" eth0 "$server_ip6/64"

    ns_exec "$ns_client" ip route add default via "$gw_client_ip4"
    ns_exec "$ns_client" ip -6 route add default via "$gw_client_ip6"
    ns_exec "$ns_server" ip route add default via "$gw_server_ip4"
    ns_exec "$ns_server" ip -6 route add default via "$gw_server_ip6"

    ns_exec "$ns_gw" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    log "topology: $ns_client ($client_ip4) -- $ns_gw ($gw_client_ip4 | $gw_server_ip4) -- $ns_server ($server_ip4), IPv6 too"
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
    local rc=$? pid ns i
    ((lab_cleaned)) && return "$rc"
    lab_cleaned=1
    trap '' INT TERM HUP  # a second Ctrl-C must not cut the cleanup short
    set +e
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
            lab_ns_kill_all "$ns"
            ip netns del "$ns" 2>/dev/null
        fi
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
