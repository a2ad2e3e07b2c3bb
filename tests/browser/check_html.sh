#!/bin/bash
# Opens a tplab HTML report in a real headless Chromium and checks: the page's closing script ran
# (<body data-rendered="ok">), Chromium logged no console message or uncaught script error, and,
# at 1280x720 and at 1920x1080 (a laptop and a projector), that nothing is cut off (no run column
# or table reaches past the window's right edge) and every ladder label is drawn at 14 px or more;
# then a screenshot at each size is a real picture (a PNG of more than 10 KB, many colours).
#
# Usage: tests/browser/check_html.sh HTML_FILE PNG_OUT
#   writes PNG_OUT at 1920x1080 and PNG_OUT with -1280x720 before .png at 1280x720
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

# The layout, measured by the page itself: a copy of it with a script appended that writes what
# it measured into <body data-layout="...">: the widest right edge of a run column, a table or the
# comparison section, the window's width, and the smallest ladder label in CSS pixels (its font
# size times the drawing's scale).
readonly measure_js='<script>(function () {
  var w = window.innerWidth, right = 0, small = 1e9, labels = 0;
  document.querySelectorAll("section.run, section.compare, table").forEach(function (e) {
    right = Math.max(right, e.getBoundingClientRect().right);
  });
  document.querySelectorAll("svg.ladder").forEach(function (svg) {
    var scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    svg.querySelectorAll("text").forEach(function (t) {
      labels++;
      small = Math.min(small, parseFloat(getComputedStyle(t).fontSize) * scale);
    });
  });
  document.body.dataset.layout = "window=" + w + " right=" + Math.ceil(right) +
    " labels=" + labels + " smallest=" + (labels ? small.toFixed(1) : "none");
})();</script>'

check_layout() {
    local width=$1 height=$2 layout right smallest
    local page="$tmp_dir/measure-$width.html"
    python3 -c 'import sys; page = open(sys.argv[1], encoding="utf-8").read()
open(sys.argv[2], "w", encoding="utf-8").write(page.replace("</body>", sys.argv[3] + "</body>"))' \
        "$html_file" "$page" "$measure_js"
    local saved_url=$url
    url=$(file_url "$page")
    run_chromium "layout-$width" --dump-dom --window-size="$width,$height"
    url=$saved_url
    check_console "layout-$width"
    layout=$(grep -o 'data-layout="[^"]*"' "$tmp_dir/layout-$width.out" | head -n1)
    [[ -n "$layout" ]] || fail "at ${width}x${height} the layout could not be measured"
    layout=${layout#data-layout=\"}
    layout=${layout%\"}
    right=$(sed -n 's/.* right=\([0-9]*\).*/\1/p' <<<"$layout")
    smallest=$(sed -n 's/.* smallest=\([0-9.]*\|none\).*/\1/p' <<<"$layout")
    ((right <= width)) || fail "at ${width}x${height} the page is cut off: $layout"
    if [[ "$smallest" != none ]] && ! python3 -c 'import sys; sys.exit(float(sys.argv[1]) < 14)' "$smallest"; then
        fail "at ${width}x${height} a ladder label is smaller than 14 px: $layout"
    fi
    layout_summary+="${width}x${height}: $layout; "
}

check_screenshot() {
    local png=$1 width=$2 height=$3
    rm -f "$png"
    run_chromium "screenshot-$width" --screenshot="$png" --window-size="$width,$height"
    check_console "screenshot-$width"
    [[ -s "$png" ]] || fail "no screenshot was written to $png"
    local bytes
    bytes=$(stat -c %s "$png")
    ((bytes > MIN_PNG_BYTES)) || fail "screenshot is only $bytes bytes: an empty page?"
    if ! command -v python3 >/dev/null 2>&1; then
        png_summary+="$png: $bytes bytes (python3 missing: colours not counted); "
        return
    fi
    local stats colours
    stats=$(png_stats "$png" 2>&1) || fail "screenshot unreadable: $stats"
    read -r width height colours <<<"$stats"
    ((colours >= min_colours)) || fail "screenshot $png has $colours colour(s): a blank page?"
    png_summary+="$png ${width}x${height}, $bytes bytes, $colours colours sampled; "
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
    html_file=$(readlink -f "$1")
    url=$(file_url "$html_file")
    png_out=$(readlink -m "$2")
    mkdir -p "$(dirname "$png_out")"
    command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"

    check_dom
    layout_summary="" png_summary=""
    check_layout 1280 720
    check_layout 1920 1080
    check_screenshot "${png_out%.png}-1280x720.png" 1280 720
    check_screenshot "$png_out" 1920 1080
    echo "PASS: check_html: $1 rendered (data-rendered=ok, no console errors); layout" \
        "${layout_summary}screenshots: $png_summary"
}

main "$@"
