#!/bin/bash
# Opens a tplab HTML report in a real headless Chromium and checks three things: the page's closing
# script ran (<body data-rendered="ok">), Chromium logged no console message or uncaught script
# error, and a 1600x1200 screenshot is a real picture (a PNG of more than 10 KB, many colours).
#
# Usage: tests/browser/check_html.sh HTML_FILE PNG_OUT
# Exit 0 on pass, 1 on failure (one line says why), 4 to skip when Chromium is not installed.
# Works offline: the flags keep Chromium off the network, and the page must not need it either
# (its Content-Security-Policy forbids any load, so an attempt would show up as a console error).
# Tunables: CHROMIUM=/path/to/chromium, CHROMIUM_TIMEOUT=60 (seconds per run), MIN_PNG_BYTES.

set -uo pipefail

: "${CHROMIUM:=}"
: "${CHROMIUM_TIMEOUT:=60}"
: "${MIN_PNG_BYTES:=10240}"
readonly min_colours=8

tmp_dir=""
cleanup() {
    if [[ -n "$tmp_dir" ]]; then
        rm -rf "$tmp_dir"
    fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: check_html: $*"
    exit 1
}

skip() {
    echo "SKIP: check_html: $*"
    exit 4
}

find_chromium() {
    local candidate
    for candidate in "$CHROMIUM" chromium chromium-browser; do
        if [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

file_url() {
    local path=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import pathlib, sys; print(pathlib.Path(sys.argv[1]).as_uri())' "$path"
    else
        echo "file://${path// /%20}"
    fi
}

# run_chromium NAME ARGS...: one headless run with its own throwaway profile; stdout to
# $tmp_dir/NAME.out, Chromium's log (where console messages land) to $tmp_dir/NAME.log.
run_chromium() {
    local name=$1
    shift
    local profile="$tmp_dir/profile-$name"
    mkdir -p "$profile"
    timeout -k 5 "$CHROMIUM_TIMEOUT" "$browser" \
        --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --enable-logging=stderr --v=0 --hide-scrollbars \
        "$@" "$url" >"$tmp_dir/$name.out" 2>"$tmp_dir/$name.log"
    local rc=$?
    if ((rc == 124 || rc == 137)); then
        fail "chromium ($name) did not finish within ${CHROMIUM_TIMEOUT}s"
    fi
    if ((rc != 0)); then
        fail "chromium ($name) exited $rc: $(grep -m1 -E 'ERROR|FATAL' "$tmp_dir/$name.log")"
    fi
}

# Console messages look like `INFO:CONSOLE:12] "Uncaught ReferenceError: ...", source: ...` (older
# builds: `CONSOLE(12)`). The page logs nothing itself, so any of them is an error.
check_console() {
    local name=$1 line
    line=$(grep -m1 -E ':CONSOLE[:(]|Uncaught' "$tmp_dir/$name.log")
    if [[ -n "$line" ]]; then
        fail "console message during $name: ${line#*] }"
    fi
}

check_dom() {
    run_chromium dom --dump-dom
    check_console dom
    if ! grep -qE '<body[^>]*data-rendered="ok"' "$tmp_dir/dom.out"; then
        fail "body has no data-rendered=\"ok\": the closing script did not run"
    fi
}

# Prints "WIDTH HEIGHT COLOURS" for an 8-bit PNG (colours counted on a sample of pixels), using
# only the Python standard library: chunks, zlib, and the five PNG row filters.
png_stats() {
    python3 - "$1" <<'EOF'
import struct, sys, zlib

data = open(sys.argv[1], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("not a PNG file")
pos, idat, ihdr = 8, [], None
while pos + 8 <= len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", data[pos + 8:pos + 21])
    elif kind == b"IDAT":
        idat.append(data[pos + 8:pos + 8 + length])
    pos += 12 + length
if ihdr is None or ihdr[2] != 8 or ihdr[3] not in (0, 2, 4, 6) or ihdr[6] != 0:
    sys.exit("unsupported PNG (want 8-bit, not interlaced)")
width, height, ctype = ihdr[0], ihdr[1], ihdr[3]
bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
stride = width * bpp
raw = zlib.decompress(b"".join(idat))
prev, colours = bytearray(stride), set()
for y in range(height):
    start = y * (stride + 1)
    kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
    if kind == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif kind == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif kind == 3:
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
    elif kind == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 8 == 0:
        colours.update(bytes(line[i:i + bpp]) for i in range(0, stride, bpp * 4))
    prev = line
print(width, height, len(colours))
EOF
}

check_screenshot() {
    rm -f "$png_out"
    run_chromium screenshot --screenshot="$png_out" --window-size=1600,1200
    check_console screenshot
    [[ -s "$png_out" ]] || fail "no screenshot was written to $png_out"
    local bytes
    bytes=$(stat -c %s "$png_out")
    ((bytes > MIN_PNG_BYTES)) || fail "screenshot is only $bytes bytes: an empty page?"
    if ! command -v python3 >/dev/null 2>&1; then
        png_summary="$bytes bytes (python3 missing: colours not counted)"
        return
    fi
    local stats width height colours
    stats=$(png_stats "$png_out" 2>&1) || fail "screenshot unreadable: $stats"
    read -r width height colours <<<"$stats"
    ((colours >= min_colours)) || fail "screenshot has $colours colour(s): a blank page?"
    png_summary="${width}x${height}, $bytes bytes, $colours colours sampled"
}

main() {
    if (($# != 2)); then
        echo "usage: $0 HTML_FILE PNG_OUT" >&2
        exit 1
    fi
    [[ -f "$1" ]] || fail "no such file: $1"
    browser=$(find_chromium) || skip "chromium is not installed (apt-get install -y chromium)"
    command -v timeout >/dev/null 2>&1 || skip "timeout (coreutils) is not installed"
    tmp_dir=$(mktemp -d)
    url=$(file_url "$(readlink -f "$1")")
    png_out=$(readlink -m "$2")
    mkdir -p "$(dirname "$png_out")"

    check_dom
    check_screenshot
    echo "PASS: check_html: $1 rendered (data-rendered=ok, no console errors);" \
        "screenshot $png_out: $png_summary"
}

main "$@"
