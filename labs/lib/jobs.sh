# shellcheck shell=bash
# Part of labs/lib.sh, which sources every part in order (source lib.sh, not this file).
# Running commands in namespaces: run (shows the command first), ns_exec, busywait,
# background jobs under timeout (start_bg, stop_bg), and defer for cleanup.

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
    lab_quoted_words=("${words[@]}")
}

# show_cmd NS SUFFIX CMD...: print `[ns] # CMD SUFFIX` to the script's stdout (fd 3), where ns
# is NS without the prefix (tpl-gw -> gw). To type it yourself: ip netns exec NS CMD.
# NS `-` is the host's own namespace, shown as [host]. A command longer than LAB_COLUMNS goes on
# over continuation lines ending in ` \`, so it can still be pasted into a shell as it is.
show_cmd() {
    local ns=$1 suffix=$2 label line word on_line=0
    shift 2
    lab_quote "$@"
    label=${ns#"${LAB_PREFIX}"-}
    [[ "$ns" == - ]] && label=host
    line="[$label] #"
    local -a units=()
    local i n=${#lab_quoted_words[@]}
    for ((i = 0; i < n; i++)); do  # an option and its value stay on one line
        word=${lab_quoted_words[i]}
        if [[ "$word" == -* && $((i + 1)) -lt $n && "${lab_quoted_words[i + 1]}" != -* ]]; then
            i=$((i + 1))
            word+=" ${lab_quoted_words[i]}"
        fi
        units+=("$word")
    done
    local -a suffix_words
    read -ra suffix_words <<<"$suffix"  # redirections and `&` count too
    units+=("${suffix_words[@]}")
    for word in "${units[@]}"; do
        if ((on_line > 0 && ${#line} + 1 + ${#word} + 2 > LAB_COLUMNS)); then
            printf '%s \\\n' "$line" >&3
            line="   " on_line=0
        fi
        line+=" $word" on_line=$((on_line + 1))
    done
    printf '%s\n' "$line" >&3
}

# lab_in NS CMD...: run CMD in NS, or in the host's namespace for NS `-` (on the machine NS lives
# on: lab_on).
lab_in() {
    local ns=$1
    shift
    if [[ "$ns" == - ]]; then
        "$@"
    else
        lab_on "$ns" ip netns exec "$ns" "$@"
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
    lab_in "$ns" "$@"
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
    [[ -n "$(lab_in "$ns" ss -Hln "$proto" "sport = :$port" 2>/dev/null)" ]]
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
# `timeout $LAB_TIMEOUT` (a lab that can pause: under lab_watch_job), stdout and stderr to
# LOGFILE. Shows the command; sets bg_pid; cleanup stops it.
start_bg() {
    local ns=$1 logfile=$2
    shift 2
    show_cmd "$ns" " >$logfile 2>&1 &" "$@"
    if [[ "$ns" == - ]]; then
        lab_start_job - "" "$logfile" "$@"
    else
        lab_start_job "$ns" "$ns" "$logfile" "$@"
    fi
}

# lab_start_job MACHINE_NS IN_NS LOGFILE CMD...: start CMD under timeout on the machine MACHINE_NS
# lives on (`-`: here), inside IN_NS (empty: that machine's own namespace); sets bg_pid. A job on
# another machine is its ssh process here, which lives as long as the job and ends with its exit
# status; its pid is in a file there while it runs, so that stop_bg can signal the job itself.
# A lab that can pause (lab_can_pause) runs CMD without timeout(1), whose clock cannot be stopped,
# and lab_watch_job ends it after LAB_TIMEOUT seconds that do not count the pauses.
lab_start_job() {
    local machine_ns=$1 in_ns=$2 logfile=$3 pidfile
    shift 3
    local command=(timeout --kill-after=5 "$LAB_TIMEOUT" "$@")
    ((lab_can_pause)) && command=("$@")
    [[ -n "$in_ns" ]] && command=(ip netns exec "$in_ns" "${command[@]}")
    # A simple command, not a function, after `&`: so $! is the job itself and signals reach it.
    if lab_remote "$machine_ns"; then
        lab_job_count=$((${lab_job_count:-0} + 1))
        pidfile="/run/tplab-lab-$LAB_PREFIX-$$-$lab_job_count.pid"
        # shellcheck disable=SC2016  # expanded on the other machine
        lab_ssh_command sh -c 'f=$1; shift; "$@" & echo $! >"$f"; wait $!; s=$?; rm -f "$f"; exit $s' \
            sh "$pidfile" "${command[@]}"
        "${lab_ssh_argv[@]}" >"$logfile" 2>&1 </dev/null 9>&- &
        lab_remote_job[$!]="$machine_ns $pidfile"
    else
        "${command[@]}" >"$logfile" 2>&1 </dev/null 9>&- &
    fi
    bg_pid=$!
    lab_pids+=("$bg_pid")
    ((lab_can_pause)) && lab_watch_job "$bg_pid"
    return 0
}

# lab_watch_job PID: timeout(1) for a job of a lab that can pause. A process of its own counts the
# seconds the job has run while the lab was not paused (pause_here sends it USR1 when a pause
# starts, USR2 when it ends); at LAB_TIMEOUT it sends the job TERM, and KILL 5 s later, as
# `timeout --kill-after=5` does. It ends within a second of its job, and only then: cleanup stops
# the job, not the watchdog, so a job a lab leaves running on purpose (exercise.sh) keeps its limit.
lab_watch_job() {
    local pid=$1
    (
        paused=0 age=0
        trap 'paused=1' USR1
        trap 'paused=0' USR2
        trap - EXIT INT TERM HUP
        cd / || exit 0
        while kill -0 "$pid" 2>/dev/null; do
            sleep 1
            ((paused)) || age=$((age + 1))
            ((age >= LAB_TIMEOUT)) || continue
            lab_signal_job "$pid" TERM
            busywait 5 lab_pid_gone "$pid" || lab_signal_job "$pid" KILL
            exit 0
        done
    ) </dev/null >/dev/null 2>&1 3>&- 4>&- 9>&- &
    lab_watchdogs+=("$!")
}

# lab_signal_watchdogs SIGNAL: send SIGNAL to every lab_watch_job process still running.
lab_signal_watchdogs() {
    local pid
    for pid in "${lab_watchdogs[@]}"; do
        kill "-$1" "$pid" 2>/dev/null || true
    done
}

lab_pid_gone() {
    ! kill -0 "$1" 2>/dev/null
}

# lab_signal_job PID SIGNAL: send SIGNAL to a start_bg job. A job on another machine gets it
# there (its ssh here ends when it does); KILL also ends that ssh, in case the machine is gone.
lab_signal_job() {
    local pid=$1 signal=$2 remote=${lab_remote_job[$1]:-}
    if [[ -n "$remote" ]]; then
        # shellcheck disable=SC2016
        lab_on "${remote%% *}" sh -c 'kill -"$1" "$(cat "$2" 2>/dev/null)" 2>/dev/null' sh \
            "$signal" "${remote#* }" </dev/null || true
        [[ "$signal" == KILL ]] || return 0
    fi
    kill "-$signal" "$pid" 2>/dev/null || true
}

# stop_bg PID [SIGNAL]: send SIGNAL (default TERM) to a start_bg job and wait for it.
# Returns the job's exit status (timeout forwards the signal to the command).
stop_bg() {
    local pid=$1 signal=${2:-TERM} rc=0 i
    lab_signal_job "$pid" "$signal"
    if ! busywait "$LAB_WAIT" lab_pid_gone "$pid"; then
        lab_signal_job "$pid" KILL
    fi
    wait "$pid" 2>/dev/null || rc=$?
    for i in "${!lab_pids[@]}"; do
        [[ "${lab_pids[$i]}" == "$pid" ]] && unset 'lab_pids[i]'
    done
    unset 'lab_remote_job[$pid]'
    return "$rc"
}

# defer CMD...: run CMD during cleanup (last registered runs first), before the namespaces go.
defer() {
    lab_quote "$@"
    lab_deferred+=("$lab_quoted")
}
