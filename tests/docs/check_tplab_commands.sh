#!/usr/bin/env bash
# Every `tplab ...` command the instructor's kit prints works as printed: docs/teaching/*.md and
# docs/instructor/*.md (the solutions, where they live), in English (the zh pages copy their code
# blocks byte for byte), and the README's code blocks (its quick start). Commands are taken from
# fenced code blocks (a line that, after an optional `sudo`, VAR=value settings and `ip netns exec
# NS`, starts with `tplab`; a trailing `# comment` or `&` is dropped) and, in the kit's pages,
# from inline code spans that start the same way (`tplab doctor --mode tproxy --port 15002`; the
# README's spans name options in prose, not commands). Output lines (`FAIL: tplab doctor ...`,
# `[gw] # tplab ...`) do not start that way and are not commands.
# Placeholders in spans are filled in: MODE -> tproxy, PORT and P -> 15002, NAME -> quickstart.
# How each is checked, with the TPLAB argument first on PATH as `tplab`:
#   run as printed   --help / -h / --version anywhere on the line; `tplab lab --list`;
#                    `tplab rules ...` without --apply/--remove (it only prints);
#                    `tplab doctor ...` inside a scratch namespace of its own (as root; `ip netns
#                    exec NS` on the page is replaced by it): exit 0, 1 or 3, never 2 (bad input)
#   names a lab      `tplab lab NAME ...`: NAME is one of `tplab lab --list` (the lab's own
#                    options are the lab's: it is not run here)
#   parse only       everything else (proxy, capture, report, rules --apply, doctor without
#                    root): TPLAB_PARSE_ONLY (tests/docs/parse_only.cpp, the real CLI11 app that
#                    runs nothing) must accept the subcommand and every option and value
#   a bare mention   a span of only `tplab` or `tplab SUBCOMMAND` (a name in a sentence):
#                    `tplab [SUBCOMMAND] --help` must succeed
# Usage: check_tplab_commands.sh REPO_DIR TPLAB TPLAB_PARSE_ONLY. Exit 0 pass, 1 fail.
set -uo pipefail

repo=$(readlink -f "${1:?usage: check_tplab_commands.sh REPO_DIR TPLAB TPLAB_PARSE_ONLY}")
tplab=$(readlink -f "${2:?}")
parse_only=$(readlink -f "${3:?}")
ns="tpldocs$$"
failures=0 checked=0
declare -A by_kind=()

scratch=$(mktemp -d)
ln -s "$tplab" "$scratch/tplab"
export PATH="$scratch:$PATH"
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    ip netns del "$ns" 2>/dev/null
    rm -rf -- "$scratch"
}
trap cleanup EXIT
have_ns=0
if [ "$(id -u)" -eq 0 ] && ip netns add "$ns" 2>/dev/null; then
    ip -n "$ns" link set lo up
    have_ns=1
fi

# extract: "PAGE:LINE<TAB>COMMAND" for each command of the pages (run in a subshell: it cds).
extract() {
    cd "$repo" || return 1
    /usr/bin/python3 - "$repo" <<'EOF'
import glob, re, sys, os
os.chdir(sys.argv[1])
pages = ["README.md"] + glob.glob("docs/teaching/*.md") + glob.glob("docs/instructor/*.md")
lead = r"(?:sudo\s+)?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:ip netns exec \S+\s+)?tplab(?:\s|$)"
command_re = re.compile(r"^\s*(" + lead + r".*)$")
fills = {"MODE": "tproxy", "PORT": "15002", "P": "15002", "NAME": "quickstart"}
for page in sorted(set(pages)):
    fenced = False
    for number, line in enumerate(open(page, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            candidates = [line]
        elif page.startswith(("docs/teaching/", "docs/instructor/")):
            candidates = re.findall(r"`([^`]+)`", line)
        else:
            continue
        for text in candidates:
            match = command_re.match(text)
            if not match:
                continue
            command = re.sub(r"\s+#.*$", "", match.group(1)).strip()
            command = re.sub(r"\s*&$", "", command)
            if not fenced:
                command = " ".join(fills.get(word, word) for word in command.split())
            print(f"{page}:{number}\t{command}")
EOF
}

fail() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}

# check WHERE COMMAND: how depends on the command (see the top of this file).
check() {
    local where=$1 command=$2 words in_ns="" kind out rc=0
    read -ra words <<<"$command"
    # The prefix a page may put before tplab: sudo, VAR=value settings, ip netns exec NS.
    local env_words=()
    while ((${#words[@]} > 0)) && [[ "${words[0]}" != tplab ]]; do
        case "${words[0]}" in
        sudo) words=("${words[@]:1}") ;;
        ip)
            in_ns=${words[3]}
            words=("${words[@]:4}")
            ;;
        *=*)
            env_words+=("${words[0]}")
            words=("${words[@]:1}")
            ;;
        *) break ;;
        esac
    done
    [[ "${words[0]:-}" == tplab ]] || { fail "$where: cannot read '$command'"; return; }
    local args=("${words[@]:1}") sub=${words[1]:-} line=" ${words[*]:1} "
    if ((${#words[@]} <= 2)) && [[ "$sub" != -* ]]; then
        kind="a bare mention"
        out=$(tplab ${sub:+"$sub"} --help 2>&1 </dev/null) ||
            fail "$where: 'tplab $sub --help' failed: $out"
    elif [[ "$sub" == lab && "$line" != " lab --list " && "$line" != " lab --help " ]]; then
        kind="names a lab"
        if ! tplab lab --list 2>/dev/null | grep -qxF -- "${words[2]:-}"; then
            fail "$where: '$command': no lab '${words[2]:-}' in tplab lab --list"
        fi
    elif [[ "$line" =~ \ (--help|-h|--version)\  || "$line" == " lab --list " ]]; then
        kind="run as printed"
        out=$(env "${env_words[@]}" tplab "${args[@]}" 2>&1 </dev/null) || rc=$?
        if ((rc != 0)) || [[ -z "$out" ]]; then fail "$where: '$command' exited $rc: $out"; fi
    elif [[ "$sub" == rules && ! "$line" =~ \ --(apply|remove)\  ]]; then
        kind="run as printed"
        out=$(env "${env_words[@]}" tplab "${args[@]}" 2>&1 </dev/null) || rc=$?
        ((rc == 0)) || fail "$where: '$command' exited $rc: $out"
    elif [[ "$sub" == doctor ]] && ((${#words[@]} > 2)) && ((have_ns)); then
        kind="run in a scratch namespace"
        out=$(ip netns exec "$ns" env "${env_words[@]}" tplab "${args[@]}" 2>&1 </dev/null) || rc=$?
        ((rc == 0 || rc == 1 || rc == 3)) ||
            fail "$where: '$command' in namespace $ns (for ${in_ns:-this one}) exited $rc: $out"
    else
        kind="parse only"
        out=$("$parse_only" "${args[@]}" 2>&1 </dev/null) ||
            fail "$where: '$command' does not parse: $out"
    fi
    by_kind[$kind]=$((${by_kind[$kind]:-0} + 1))
    checked=$((checked + 1))
    printf '%-26s %s: %s\n' "$kind" "$where" "$command"
}

while IFS=$'\t' read -r where command; do
    check "$where" "$command"
done < <(extract)

((have_ns)) || echo "(not root: tplab doctor commands were only parsed)"
summary=""
for kind in "run as printed" "run in a scratch namespace" "names a lab" "parse only" "a bare mention"; do
    summary+="${by_kind[$kind]:-0} $kind, "
done
echo "$checked commands: ${summary%, }"
if ((checked < 10)); then
    fail "only $checked commands found in the pages: the extraction is broken"
fi
((failures == 0))
