# shellcheck shell=bash
# Part of labs/lib.sh, which sources every part in order (source lib.sh, not this file).
# The namespaces and the standard client-gateway-server topology, the work directory and the
# name-answering servers, the labs' command line and address families, the kernels' addresses.

#### Namespaces and topology ##################################################

# lab_ns_kill_all NS: stop every process still inside NS (TERM, then KILL), and return only once
# each of them is gone from the process table.
lab_ns_kill_all() {
    local ns=$1 pids pid
    pids=$(lab_on "$ns" ip netns pids "$ns" 2>/dev/null || true)
    [[ -z "$pids" ]] && return 0
    # shellcheck disable=SC2086  # one pid per word
    lab_on "$ns" kill -TERM $pids 2>/dev/null || true
    if ! busywait 3 lab_ns_empty "$ns"; then
        pids=$(lab_on "$ns" ip netns pids "$ns" 2>/dev/null || true)
        if [[ -n "$pids" ]]; then
            # shellcheck disable=SC2086
            lab_on "$ns" kill -KILL $pids 2>/dev/null || true
        fi
        busywait 3 lab_ns_empty "$ns" || true
    fi
    # A dead process leaves the namespace at once but stays in the process table until its parent
    # reaps it. The child of a killed parent (socat's per-connection fork and its shell) is reaped
    # by init instead, and on some machines init takes a second or two: wait for that too.
    for pid in $pids; do
        busywait 3 lab_ns_pid_gone "$ns" "$pid" || true
    done
}

lab_ns_empty() {
    [[ -z "$(lab_on "$1" ip netns pids "$1" 2>/dev/null || true)" ]]
}

# lab_ns_pid_gone NS PID: true if PID is gone from the process table of the machine NS lives on.
lab_ns_pid_gone() {
    ! lab_on "$1" kill -0 "$2" 2>/dev/null
}

lab_ns_exists() {
    local name rest
    while read -r name rest; do
        [[ "$name" == "$1" ]] && return 0
    done < <(lab_on "$1" ip netns list 2>/dev/null </dev/null)
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
            lab_on "$ns" ip netns del "$ns"
        fi
        lab_ns_list+=("$ns")
        lab_on "$ns" ip netns add "$ns"
        lab_on "$ns" ip -n "$ns" link set lo up
        # Before any link exists, so every interface inherits it: without DAD the link-local
        # addresses are not "tentative", and the first IPv6 connection does not wait ~1 s for
        # neighbour discovery. (add_addr's nodad does the same for the global addresses.)
        ns_exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    done
}

# add_link NS_A IF_A NS_B IF_B: a veth pair from IF_A in NS_A to IF_B in NS_B, both up.
# Created directly inside the namespaces, so the names never clash with the host's. Between two
# machines (LAB_MACHINES) the wire that joins them takes the veth pair's place: each machine's NIC
# on it moves into its namespace under the name IF_A or IF_B.
add_link() {
    local ns_a=$1 if_a=$2 ns_b=$3 if_b=$4
    if lab_link_ends "$ns_a" "$ns_b"; then
        if [[ "$LAB_VERBOSE" == 1 ]]; then
            printf '# ip link set NIC netns %s name %s (%s), and %s in %s (%s)\n' \
                "$ns_a" "$if_a" "$lab_mac_a" "$if_b" "$ns_b" "$lab_mac_b" >&3
        fi
        lab_plug_nic "$ns_a" "$lab_mac_a" "$if_a"
        lab_plug_nic "$ns_b" "$lab_mac_b" "$if_b"
        return
    fi
    if [[ "$LAB_VERBOSE" == 1 ]]; then
        printf '# ip -n %s link add %s type veth peer name %s netns %s\n' \
            "$ns_a" "$if_a" "$if_b" "$ns_b" >&3
    fi
    # Created inside ns_a, not in the root namespace and moved: Linux 6.1 (Debian 12) checks
    # the first name against the namespace it is created in, so `eth0` fails with "File
    # exists" on a host (or VM) that has an eth0 of its own.
    lab_on "$ns_a" ip -n "$ns_a" link add "$if_a" type veth peer name "$if_b" netns "$ns_b"
    lab_on "$ns_a" ip -n "$ns_a" link set "$if_a" up
    lab_on "$ns_b" ip -n "$ns_b" link set "$if_b" up
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
    lab_on "$ns" ip -n "$ns" -j "$flag" addr show dev "$ifname" scope global | "$lab_py" -c '
import json, sys
for link in json.load(sys.stdin):
    for a in link.get("addr_info", []):
        print(a["local"]); sys.exit(0)'
}

# route_src NS DEST: the source address the kernel in NS picks to reach DEST (`ip route get`).
route_src() {
    local ns=$1 dest=$2
    lab_on "$ns" ip -n "$ns" -j route get "$dest" | "$lab_py" -c '
import json, sys
r = json.load(sys.stdin)
print(r[0].get("prefsrc", "") if r else "")'
}
