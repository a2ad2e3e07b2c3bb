# shellcheck shell=bash
# Part of labs/lib.sh, which sources every part in order (source lib.sh, not this file).
# Output and checks: log, section, PASS/FAIL and check_*, pauses, the exit code;
# requirements: root, tools (a missing one skips the lab), which tplab binary.

#### Output and checks ########################################################

# lab_wrap INDENT TEXT: print TEXT, each of its lines broken at spaces into lines of at most
# LAB_COLUMNS (what a projector shows), continuation lines indented by INDENT spaces more than
# the line's own indent. A word too long for a line (a JSON event) gets lines of its own, cut
# after a comma where it can be. The files in the run directory keep the text unbroken.
# No $(...) here: see cleanup's comment.
lab_wrap() {
    local indent=$1 text=$2 one lead line word started pad cut
    local -a words
    while IFS= read -r one; do
        if ((${#one} <= LAB_COLUMNS)); then
            printf '%s\n' "$one"
            continue
        fi
        lead=${one%%[! ]*}
        printf -v pad '%*s' $((${#lead} + indent)) ''
        read -ra words <<<"$one"
        line=$lead started=0
        for word in "${words[@]}"; do
            if ((started && ${#line} + 1 + ${#word} > LAB_COLUMNS)); then
                printf '%s\n' "$line"
                line=$pad started=0
            fi
            while ((${#line} + ${#word} + started > LAB_COLUMNS)); do
                if ((started)); then
                    printf '%s\n' "$line"
                    line=$pad started=0
                fi
                cut=${word:0:LAB_COLUMNS - ${#line}}
                if [[ "${cut%,*}" != "$cut" && ${#cut} -gt 20 ]]; then
                    cut="${cut%,*},"
                fi
                printf '%s%s\n' "$line" "$cut"
                word=${word:${#cut}} line=$pad
            done
            if ((started)); then
                line+=" $word"
            elif [[ -n "$word" ]]; then
                line+=$word started=1
            fi
        done
        if ((started)); then
            printf '%s\n' "$line"
        fi
    done <<<"$text"
    return 0
}

# lab_indent [FILE]: FILE (or stdin) indented by four spaces, long lines wrapped by lab_wrap.
lab_indent() {
    local one
    while IFS= read -r one || [[ -n "$one" ]]; do
        lab_wrap 4 "    $one"
    done <"${1:-/dev/stdin}"
    return 0
}

log() {
    lab_wrap 4 "$*"
}

section() {
    printf '\n'
    lab_wrap 3 "== $* =="
}

die() {
    lab_wrap 7 "ERROR: $*" >&2
    exit 1
}

skip() {
    lab_wrap 6 "SKIP: $*"
    exit "$lab_skip_code"
}

pass() {
    lab_pass_count=$((lab_pass_count + 1))
    lab_wrap 6 "PASS: $*"
}

fail() {
    lab_fail_count=$((lab_fail_count + 1))
    lab_wrap 6 "FAIL: $*"
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
# explored from another shell (ip netns exec ...). The wait does not count towards LAB_TIMEOUT:
# the background jobs' watchdogs (lab_watch_job) stop counting until Enter, however long the class
# takes.
pause_here() {
    [[ "$LAB_PAUSE" == 1 && -t 0 ]] || return 0
    printf '\n-- paused: explore with e.g. ip netns exec %s iptables -t nat -L -n -v; Enter continues --\n' \
        "$ns_gw" >&3
    lab_signal_watchdogs USR1
    read -r _ || true
    lab_signal_watchdogs USR2
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
