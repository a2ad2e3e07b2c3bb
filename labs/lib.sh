# shellcheck shell=bash
# Shared helpers for the tplab labs: throwaway namespaces, the standard client-gateway-server
# topology, background jobs under timeout, PASS/FAIL checks, and a cleanup that runs on every exit.
# Modelled on the kernel's tools/testing/selftests/net/lib.sh. Source it; labs use set -euo pipefail.
# This file holds the tunables and the shared state; the helpers live in lib/, one file per job:
#   lib/output.sh    log, section, pass/fail, check_*, require_tool, tplab_bin
#   lib/machines.sh  lab_on: which machine a namespace lives on (here, or a VM over ssh)
#   lib/jobs.sh      run, ns_exec, busywait, start_bg/stop_bg, defer
#   lib/topology.sh  create_ns, build_topology, add_proxy_box, init_workdir, parse_lab_args, use_family
#   lib/runs.sh      add_point, start_capture, write_meta, begin_run, run_traffic, end_run, start_proxy
#   lib/rules.sh     show_rules, apply_rules, doctor_json, doctor_text
#   lib/report.sh    read_run_facts, check_report, check_path, run_report, report_json_get
#   lib/cleanup.sh   cleanup and the signal handler

# Tunables (override from the environment).
: "${LAB_PREFIX:=tpl}"    # namespaces are ${LAB_PREFIX}-client, -gw, -server
: "${LAB_TIMEOUT:=120}"   # seconds any background job may live, not counting time paused (LAB_PAUSE)
: "${LAB_WAIT:=10}"       # seconds to wait for a listener, a log line, a process to stop
: "${LAB_OUTPUT:=}"       # keep logs and events in this directory (default: a temp dir, removed)
: "${LAB_VERBOSE:=0}"     # 1: also show the setup commands that build the topology
: "${LAB_PAUSE:=0}"       # 1: stop at each pause_here until Enter, to explore from another shell
: "${LAB_HOLD:=1}"        # seconds the server holds the lab's second connection open
: "${LAB_COLUMNS:=100}"   # the widest line the labs print (longer text and commands wrap)

[[ "$LAB_HOLD" =~ ^[1-9][0-9]?$ ]] || { printf 'ERROR: LAB_HOLD must be 1-99 seconds (got %s)\n' "$LAB_HOLD" >&2; exit 2; }
[[ "$LAB_TIMEOUT" =~ ^[1-9][0-9]{0,5}$ ]] || { printf 'ERROR: LAB_TIMEOUT must be 1-999999 seconds (got %s)\n' "$LAB_TIMEOUT" >&2; exit 2; }

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
lab_quoted=""       # result of lab_quote (one line), and lab_quoted_words (one word each)
lab_quoted_words=()
lab_pass_count=0
lab_fail_count=0
lab_cleaned=0
lab_work=""         # directory for logs and events; see init_workdir
bg_pid=""           # pid of the job start_bg started last
proxy_pid=""        # the running tplab proxy (start_proxy), and the namespace it runs in
proxy_ns=""
lab_watchdogs=()    # with LAB_PAUSE=1 on a terminal: one per background job (lab_watch_job)
lab_can_pause=0     # 1: pause_here waits for Enter (LAB_PAUSE=1, stdin a terminal)
[[ "$LAB_PAUSE" == 1 && -t 0 ]] && lab_can_pause=1

# Keep the script's own stdout on fd 3 and stderr on fd 4: `run NS CMD >file` still shows the
# command, and a trap that fires inside a redirected function still reaches the terminal.
exec 3>&1 4>&2

# The helpers, one file per responsibility (see the list at the top), in dependency order.
# shellcheck source=labs/lib/output.sh
source "$lab_dir/lib/output.sh"
# shellcheck source=labs/lib/machines.sh
source "$lab_dir/lib/machines.sh"
# shellcheck source=labs/lib/jobs.sh
source "$lab_dir/lib/jobs.sh"
# shellcheck source=labs/lib/topology.sh
source "$lab_dir/lib/topology.sh"
# shellcheck source=labs/lib/runs.sh
source "$lab_dir/lib/runs.sh"
# shellcheck source=labs/lib/rules.sh
source "$lab_dir/lib/rules.sh"
# shellcheck source=labs/lib/report.sh
source "$lab_dir/lib/report.sh"
# shellcheck source=labs/lib/cleanup.sh
source "$lab_dir/lib/cleanup.sh"

lab_parse_machines

trap cleanup EXIT
trap 'lab_on_signal 130' INT
trap 'lab_on_signal 143' TERM
trap 'lab_on_signal 129' HUP   # the terminal went away
