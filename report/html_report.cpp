// Renders the `tplab report` model as one self-contained HTML page: a column per run with the hop
// table, the proxy internals and an SVG ladder diagram of the captured packets, then a comparison.
#include "html_report.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <string_view>
#include <vector>

#include "text_escape.hpp"

namespace tplab {

using Json = nlohmann::ordered_json;

namespace {

constexpr std::size_t kMaxLadderArrows = 60;
constexpr const char* kNone = "<span class=\"none\">—</span>";

// ---------------------------------------------------------------------------------------------
// Small helpers: escaping, tolerant field access, number formatting.

// Every string of the page passes here: a client's bytes (a SOCKS5 name, an HTTP request line)
// come out as text, control characters and bytes that are not UTF-8 as \xHH.
std::string escapeHtml(std::string_view raw) {
    std::string text = escapeForDisplay(raw, /*multiLine=*/true);
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

// The member `key` of `object`, or null when `object` is not an object or lacks it.
const Json& member(const Json& object, const char* key) {
    static const Json kNull;
    if (!object.is_object()) {
        return kNull;
    }
    auto it = object.find(key);
    return it == object.end() ? kNull : *it;
}

const Json& asArray(const Json& value) {
    static const Json kEmpty = Json::array();
    return value.is_array() ? value : kEmpty;
}

// Plain text of a scalar; empty for null, arrays and objects.
std::string textOf(const Json& value) {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_boolean()) {
        return value.get<bool>() ? "yes" : "no";
    }
    if (value.is_number()) {
        return value.dump();
    }
    return {};
}

std::string textOf(const Json& object, const char* key) {
    return textOf(member(object, key));
}

double numberOf(const Json& value, double fallback = 0.0) {
    return value.is_number() ? value.get<double>() : fallback;
}

bool isTrue(const Json& value) {
    return value.is_boolean() && value.get<bool>();
}

std::string fixed(double value, int decimals) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    return buffer;
}

// An address or command in monospace, or a grey dash when the model has nothing.
std::string codeOrNone(const std::string& text) {
    return text.empty() ? kNone : "<code>" + escapeHtml(text) + "</code>";
}

// ---------------------------------------------------------------------------------------------
// Page skeleton.

constexpr const char* kStyle = R"css(
:root {
  --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; --paper: #ffffff; --wash: #f8fafc;
  --syn: #15803d; --fin: #c2410c; --rst: #b91c1c; --data: #1d4ed8; --ack: #64748b;
  --changed: #fef3c7; --changed-edge: #d97706;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
          "Liberation Sans", "DejaVu Sans", sans-serif;
  --mono: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono",
          "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--wash); color: var(--ink); font: 15px/1.5 var(--sans); }
header.page { padding: 20px 28px 14px; background: var(--paper);
              border-bottom: 1px solid var(--line); }
header.page h1 { margin: 0; font-size: 26px; letter-spacing: -0.01em; }
header.page .meta { margin: 2px 0 8px; color: var(--muted); font-size: 13px; }
.legend { margin: 0; font-size: 13px; color: #334155; }
.legend .sw { display: inline-block; padding: 0 6px; margin: 0 2px; border-radius: 4px;
              font-weight: 600; font-size: 12px; color: #fff; }
.legend .sw.changed { background: var(--changed); color: var(--ink);
                      box-shadow: inset 3px 0 0 var(--changed-edge); }
.legend .sw.unseen { background: var(--line); color: var(--muted); }
.sw.k-syn { background: var(--syn); } .sw.k-fin { background: var(--fin); }
.sw.k-rst { background: var(--rst); } .sw.k-data { background: var(--data); }
.sw.k-ack { background: var(--ack); }
main.runs { display: grid; gap: 20px; padding: 20px 28px; align-items: start;
            grid-template-columns: repeat(auto-fit, minmax(min(100%, 780px), 1fr)); }
section.run { background: var(--paper); border: 1px solid var(--line); border-radius: 10px;
              padding: 16px 18px; min-width: 0; }
section.run > h2 { margin: 0; font-size: 20px; }
.chips { margin: 4px 0 6px; }
.chip { display: inline-block; margin-right: 6px; padding: 0 8px; border-radius: 999px;
        background: #eef2ff; color: #3730a3; font-size: 12px; }
article.flow { border-top: 1px solid var(--line); margin-top: 12px; padding-top: 10px; }
article.flow h3 { margin: 0 0 8px; font-size: 15px; font-weight: 600; }
h4 { margin: 14px 0 6px; font-size: 12px; text-transform: uppercase; letter-spacing: 0.06em;
     color: var(--muted); }
h4 code { text-transform: none; letter-spacing: 0; }
code, .mono { font-family: var(--mono); font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px;
         border-bottom: 1px solid var(--line); }
thead th { font-size: 12px; color: var(--muted); font-weight: 600;
           border-bottom: 2px solid var(--line); }
td > code { white-space: nowrap; }
.scroll { overflow-x: auto; }
.between { display: block; color: var(--muted); font-size: 13px; }
td.changed { background: var(--changed); box-shadow: inset 3px 0 0 var(--changed-edge); }
.mark { display: inline-block; margin-left: 6px; padding: 0 5px; border-radius: 4px;
        background: var(--changed-edge); color: #fff; font-size: 12px; font-weight: 700;
        text-transform: uppercase; letter-spacing: 0.04em; vertical-align: 1px; }
tr.unseen td { color: var(--muted); background: #f1f5f9; }
tr.unseen .notseen { font-style: italic; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { width: 34%; font-weight: 600; color: #334155; font-size: 13px; }
.via { color: var(--muted); font-size: 13px; }
.yes { color: var(--fin); font-weight: 700; } .no { color: var(--syn); font-weight: 700; }
.entry, .rule { display: block; margin-top: 3px; padding: 3px 6px; background: var(--wash);
                border: 1px solid var(--line); border-radius: 4px; font-size: 12px;
                white-space: pre-wrap; overflow-wrap: anywhere; }
.none { color: #94a3b8; }
.error { display: block; color: var(--rst); font-size: 13px; }
.empty { color: var(--muted); font-style: italic; }
.note { color: var(--muted); font-size: 13px; margin: 4px 0; }
.ladder-box { overflow-x: auto; }
svg.ladder { display: block; width: 100%; min-width: 720px; max-width: 1000px; height: auto;
             background: var(--paper); }
svg.ladder text { font-family: var(--sans); }
svg.ladder .lane-head rect { fill: #1e293b; }
svg.ladder .lane-head text { fill: #fff; font-size: 15px; font-weight: 600; text-anchor: middle; }
svg.ladder .lane-line { stroke: #cbd5e1; stroke-width: 2; stroke-dasharray: 4 4; }
svg.ladder .grid { stroke: #f1f5f9; stroke-width: 1; }
svg.ladder .time { font-size: 14px; fill: var(--ink); font-variant-numeric: tabular-nums; }
svg.ladder .point { font-size: 14px; fill: var(--muted); }
svg.ladder .flags { font-size: 15px; font-weight: 700; }
svg.ladder .addr { font-family: var(--mono); font-size: 14px; fill: #334155; }
svg.ladder .flags, svg.ladder .addr { paint-order: stroke; stroke: #fff; stroke-width: 4px;
                                      stroke-linejoin: round; }
svg.ladder .more { font-size: 14px; fill: var(--muted); font-style: italic; }
svg.ladder .arrow line, svg.ladder .arrow path { stroke-width: 2; fill: none; }
.k-syn line, .k-syn path { stroke: var(--syn); } .k-syn polygon, .k-syn .flags { fill: var(--syn); }
.k-fin line, .k-fin path { stroke: var(--fin); } .k-fin polygon, .k-fin .flags { fill: var(--fin); }
.k-rst line, .k-rst path { stroke: var(--rst); } .k-rst polygon, .k-rst .flags { fill: var(--rst); }
.k-data line, .k-data path { stroke: var(--data); }
.k-data polygon, .k-data .flags { fill: var(--data); }
.k-ack line, .k-ack path { stroke: var(--ack); } .k-ack polygon, .k-ack .flags { fill: var(--ack); }
section.compare { margin: 0 28px 28px; background: var(--paper); border: 1px solid var(--line);
                  border-radius: 10px; padding: 16px 18px; }
section.compare td > code { white-space: normal; overflow-wrap: anywhere; }
section.compare h2 { margin: 0 0 4px; font-size: 20px; }
section.compare tbody th { width: 22%; font-weight: 600; color: #334155; font-size: 13px; }
section.compare tr.differs td { background: #eff6ff; }
section.compare tr.differs th::after { content: " ≠"; color: var(--data); }
button.projector { float: right; margin-left: 12px; padding: 4px 10px; font: inherit;
                   font-size: 14px; border: 1px solid var(--line); border-radius: 6px;
                   background: var(--wash); cursor: pointer; }
/* Projector: larger type everywhere, the ladder drawn bigger (the button, or #projector). */
body.projector { font-size: 19px; }
body.projector header.page h1 { font-size: 34px; }
body.projector header.page .meta, body.projector .legend, body.projector .note,
body.projector .via, body.projector .error, body.projector table.kv th,
body.projector section.compare tbody th { font-size: 17px; }
body.projector section.run > h2, body.projector section.compare h2 { font-size: 26px; }
body.projector article.flow h3 { font-size: 19px; }
body.projector h4, body.projector thead th, body.projector .chip { font-size: 15px; }
body.projector table { font-size: 18px; }
body.projector code, body.projector .mono { font-size: 17px; }
body.projector .entry, body.projector .rule { font-size: 15px; }
body.projector .between, body.projector .legend .sw, body.projector .mark { font-size: 15px; }
body.projector main.runs { grid-template-columns: repeat(auto-fit, minmax(min(100%, 1000px), 1fr)); }
body.projector svg.ladder { min-width: 900px; max-width: 1300px; }
@media print {
  body { background: #fff; font-size: 12pt; }
  button.projector { display: none; }
  main.runs { display: block; padding: 0; }
  section.run, section.compare { border: none; margin: 0 0 12pt; padding: 0; }
  section.run + section.run { break-before: page; }
  article.flow, svg.ladder, table { break-inside: avoid; }
  .ladder-box, .scroll { overflow: visible; }
  svg.ladder { min-width: 0; max-width: 100%; }
  td > code, section.compare td > code { white-space: normal; overflow-wrap: anywhere; }
  td.changed, tr.unseen td, .legend .sw { -webkit-print-color-adjust: exact;
                                          print-color-adjust: exact; }
}
)css";

std::string pageHead(const Json& report) {
    std::string generated = textOf(report, "generated");
    std::string version = textOf(report, "version");
    std::string html =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
        "<title>tplab report</title>\n<style>";
    html += kStyle;
    html +=
        "</style>\n</head>\n<body>\n<header class=\"page\">\n"
        "<button class=\"projector\" type=\"button\" title=\"larger type for a projector "
        "(or open the page with #projector)\">projector</button>\n<h1>tplab report</h1>\n";
    html += "<p class=\"meta\">generated " + (generated.empty() ? "—" : escapeHtml(generated));
    if (!version.empty()) {
        html += " · " + escapeHtml(textOf(report, "tool")) + " " + escapeHtml(version);
    }
    html += "</p>\n";
    html +=
        "<p class=\"legend\"><span class=\"sw changed\">changed</span> address differs from the "
        "previous capture point · <span class=\"sw unseen\">not seen</span> no packet of the "
        "flow there · ladder: <span class=\"sw k-syn\">SYN</span><span class=\"sw k-fin\">FIN"
        "</span><span class=\"sw k-rst\">RST</span><span class=\"sw k-data\">data</span>"
        "<span class=\"sw k-ack\">ACK</span></p>\n</header>\n";
    return html;
}

std::string pageFoot() {
    // The browser check reads these two to prove no script error stopped the page.
    // The projector button (or #projector in the address) toggles the large-type class.
    return "<script>var b = document.body; "
           "if (location.hash === \"#projector\") b.classList.add(\"projector\"); "
           "document.querySelector(\"button.projector\").onclick = function () { "
           "b.classList.toggle(\"projector\"); }; "
           "document.body.dataset.rendered = \"ok\"; "
           "document.title = \"tplab report: ok\";</script>\n</body>\n</html>\n";
}

// ---------------------------------------------------------------------------------------------
// Hop table: what each capture point saw of one flow.

// "client ↔ gateway" for a capture point label, from the run's point list.
std::string pointBetween(const Json& run, const std::string& label) {
    for (const Json& point : asArray(member(run, "points"))) {
        if (textOf(point, "label") != label) {
            continue;
        }
        std::string between;
        for (const Json& lane : asArray(member(point, "between"))) {
            between += (between.empty() ? "" : " ↔ ") + textOf(lane);
        }
        return between;
    }
    return {};
}

std::string addressCell(const Json& hop, const char* key, const char* changedKey) {
    bool changed = isTrue(member(hop, changedKey));
    std::string cell = changed ? "<td class=\"changed\">" : "<td>";
    cell += codeOrNone(textOf(hop, key));
    if (changed) {
        cell += "<span class=\"mark\">changed</span>";
    }
    return cell + "</td>";
}

std::string hopRow(const Json& run, const Json& hop) {
    std::string point = textOf(hop, "point");
    std::string between = pointBetween(run, point);
    bool seen = isTrue(member(hop, "seen"));
    std::string row = seen ? "<tr>" : "<tr class=\"unseen\">";
    row += "<td><code>" + escapeHtml(point) + "</code>";
    if (!between.empty()) {
        row += "<span class=\"between\">" + escapeHtml(between) + "</span>";
    }
    row += "</td>";
    if (!seen) {
        return row +
               "<td colspan=\"2\" class=\"notseen\">not seen</td><td class=\"num\">0</td></tr>\n";
    }
    row += addressCell(hop, "source", "source_changed");
    row += addressCell(hop, "destination", "destination_changed");
    std::string packets = textOf(hop, "packets");
    return row + "<td class=\"num\">" + (packets.empty() ? kNone : escapeHtml(packets)) +
           "</td></tr>\n";
}

std::string hopTable(const Json& run, const Json& flow) {
    const Json& hops = asArray(member(flow, "hops"));
    std::string html = "<h4>Hop by hop</h4>\n";
    if (hops.empty()) {
        return html + "<p class=\"empty\">no capture point recorded this flow</p>\n";
    }
    html +=
        "<div class=\"scroll\"><table class=\"hops\"><thead><tr><th>capture "
        "point</th><th>source</th>"
        "<th>destination</th><th class=\"num\">pkts</th></tr></thead><tbody>\n";
    for (const Json& hop : hops) {
        html += hopRow(run, hop);
    }
    return html + "</tbody></table></div>\n";
}

// ---------------------------------------------------------------------------------------------
// Internals table: what the proxy and the kernel said about the flow.

std::string kvRow(const char* label, const std::string& valueHtml) {
    return std::string("<tr><th>") + label + "</th><td>" + valueHtml + "</td></tr>\n";
}

std::string originalDstCell(const Json& internals) {
    std::string cell = codeOrNone(textOf(internals, "original_dst"));
    std::string via = textOf(internals, "recovered_by");
    if (!via.empty()) {
        cell += " <span class=\"via\">via <code>" + escapeHtml(via) + "</code></span>";
    }
    std::string error = textOf(internals, "lookup_error");
    if (!error.empty()) {
        cell += "<span class=\"error\">" + escapeHtml(error) + "</span>";
    }
    return cell;
}

std::string natCell(const Json& internals) {
    const Json& nat = member(internals, "nat");
    if (!member(nat, "present").is_boolean()) {
        return kNone;
    }
    std::string cell;
    if (isTrue(member(nat, "present"))) {
        cell = "<span class=\"yes\">yes</span>";
    } else if (isTrue(member(nat, "tracked"))) {
        cell = "<span class=\"no\">none</span> <span class=\"via\">(tracked, not rewritten)</span>";
    } else if (member(nat, "tracked").is_boolean()) {
        cell = "<span class=\"no\">none</span> <span class=\"via\">(no conntrack entry)</span>";
    } else {
        cell = "<span class=\"no\">none</span>";
    }
    std::string entry = textOf(nat, "entry");
    if (!entry.empty()) {
        cell += "<code class=\"entry\">" + escapeHtml(entry) + "</code>";
    }
    return cell;
}

std::string rulesCell(const Json& internals) {
    std::string cell;
    for (const Json& rule : asArray(member(internals, "rules"))) {
        cell += "<code class=\"rule\">" + escapeHtml(textOf(rule)) + "</code>";
    }
    return cell.empty() ? "<span class=\"none\">none matched</span>" : cell;
}

// The kernel objects that handed the flow to the proxy (an explicit proxy's flow has none).
std::string steeringCell(const Json& internals) {
    std::string cell;
    for (const Json& object : asArray(member(internals, "steered_by"))) {
        cell += "<code class=\"rule\">" + escapeHtml(textOf(object)) + "</code>";
    }
    return cell.empty() ? "<span class=\"none\">nothing (no rule, route or program)</span>" : cell;
}

std::string socketCell(const Json& internals) {
    std::string socket = textOf(internals, "socket");
    return socket.empty() ? kNone : "<code class=\"entry\">" + escapeHtml(socket) + "</code>";
}

std::string internalsTable(const Json& flow) {
    const Json& internals = member(flow, "internals");
    std::string html =
        "<h4>Internals</h4>\n<div class=\"scroll\"><table class=\"kv internals\"><tbody>\n";
    html += kvRow("accepted socket local", codeOrNone(textOf(internals, "accepted_local")));
    html += kvRow("original destination", originalDstCell(internals));
    html += kvRow("NAT mapping", natCell(internals));
    html += kvRow("rule(s) matched", rulesCell(internals));
    html += kvRow("steered by", steeringCell(internals));
    html += kvRow("kernel path (tplab trace)", codeOrNone(textOf(internals, "kernel_path")));
    html += kvRow("socket (ss)", socketCell(internals));
    html += kvRow("upstream local", codeOrNone(textOf(internals, "upstream_local")));
    html += kvRow("server saw", codeOrNone(textOf(internals, "server_saw")));
    return html + "</tbody></table></div>\n";
}

// ---------------------------------------------------------------------------------------------
// Ladder (sequence) diagram: one lane per host, one arrow per captured packet.

struct LadderLayout {
    double width = 720;
    double gutter = 128;  // left column with the time and the capture point
    double top = 60;      // below the lane headers
    double row = 58;      // one packet per row
    std::vector<std::string> lanes;
    std::vector<double> laneX;
};

LadderLayout ladderLayout(const Json& run) {
    LadderLayout layout;
    for (const Json& lane : asArray(member(run, "lanes"))) {
        layout.lanes.push_back(textOf(lane));
    }
    double first = layout.gutter + 70;
    double last = layout.width - 70;
    std::size_t count = layout.lanes.size();
    for (std::size_t i = 0; i < count; ++i) {
        double step = count > 1 ? (last - first) / static_cast<double>(count - 1) : 0;
        layout.laneX.push_back(count > 1 ? first + step * static_cast<double>(i)
                                         : (first + last) / 2);
    }
    return layout;
}

// Index of `lane` in the layout, or -1.
int laneIndex(const LadderLayout& layout, const std::string& lane) {
    auto it = std::find(layout.lanes.begin(), layout.lanes.end(), lane);
    return it == layout.lanes.end() ? -1 : static_cast<int>(it - layout.lanes.begin());
}

// The color class of a packet: RST over SYN over FIN over data over a bare ACK.
const char* packetKind(const std::string& flags, double payload) {
    if (flags.find("RST") != std::string::npos) {
        return "k-rst";
    }
    if (flags.find("SYN") != std::string::npos) {
        return "k-syn";
    }
    if (flags.find("FIN") != std::string::npos) {
        return "k-fin";
    }
    return payload > 0 ? "k-data" : "k-ack";
}

// A text element centred on `center` but kept inside the drawing; squeezed if it cannot fit.
// In the gutter (`inGutter`) it starts at `center` and is squeezed into the gutter instead.
std::string svgLabel(const LadderLayout& layout, double center, double y, const char* cls,
                     const std::string& text, double charWidth, bool inGutter = false) {
    double minX = inGutter ? center : layout.gutter + 4;
    double maxX = inGutter ? layout.gutter - 4 : layout.width - 4;
    double room = maxX - minX;
    // Count code points, not bytes, so "→" counts once.
    double chars = static_cast<double>(
        std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
    double width = chars * charWidth;
    std::string fit;
    if (width > room) {
        width = room;
        fit = " textLength=\"" + fixed(room, 0) + "\" lengthAdjust=\"spacingAndGlyphs\"";
    }
    double x = std::clamp(center, minX + width / 2, maxX - width / 2);
    return "<text class=\"" + std::string(cls) + "\" x=\"" + fixed(x, 1) + "\" y=\"" + fixed(y, 1) +
           "\" text-anchor=\"middle\"" + fit + ">" + escapeHtml(text) + "</text>";
}

std::string arrowShape(double fromX, double toX, double y) {
    if (fromX == toX) {  // a packet that stays on one host (loopback): a small loop
        return "<path d=\"M" + fixed(fromX, 1) + "," + fixed(y - 3, 1) + " h26 v9 h-18\"/>" +
               "<polygon points=\"" + fixed(fromX, 1) + "," + fixed(y + 6, 1) + " " +
               fixed(fromX + 9, 1) + "," + fixed(y + 1.5, 1) + " " + fixed(fromX + 9, 1) + "," +
               fixed(y + 10.5, 1) + "\"/>";
    }
    double direction = toX > fromX ? 1.0 : -1.0;
    double tipBase = toX - 10 * direction;
    return "<line x1=\"" + fixed(fromX, 1) + "\" y1=\"" + fixed(y, 1) + "\" x2=\"" +
           fixed(tipBase, 1) + "\" y2=\"" + fixed(y, 1) + "\"/><polygon points=\"" + fixed(toX, 1) +
           "," + fixed(y, 1) + " " + fixed(tipBase, 1) + "," + fixed(y - 5, 1) + " " +
           fixed(tipBase, 1) + "," + fixed(y + 5, 1) + "\"/>";
}

std::string ladderArrow(const LadderLayout& layout, const Json& packet, int from, int to,
                        double y) {
    std::string flags = textOf(packet, "flags");
    double payload = numberOf(member(packet, "payload"));
    std::string point = textOf(packet, "point");
    std::string time = fixed(numberOf(member(packet, "time_ms")), 3) + " ms";
    std::string flagsLabel = flags.empty() ? "(no flags)" : flags;
    if (payload > 0) {
        flagsLabel += " · " + fixed(payload, 0) + " B";
    }
    std::string addresses = textOf(packet, "source") + " → " + textOf(packet, "destination");
    double fromX = layout.laneX[static_cast<std::size_t>(from)];
    double toX = layout.laneX[static_cast<std::size_t>(to)];
    double center = (fromX + toX) / 2;

    std::string g = "<g class=\"arrow " + std::string(packetKind(flags, payload)) + "\"><title>" +
                    escapeHtml(time + " at " + point + ": " + flagsLabel + " " + addresses) +
                    "</title>";
    g += "<line class=\"grid\" x1=\"0\" y1=\"" + fixed(y + 14, 1) + "\" x2=\"" +
         fixed(layout.width, 0) + "\" y2=\"" + fixed(y + 14, 1) + "\"/>";
    g += svgLabel(layout, 4, y - 16, "point", point, 7.8, true);
    g += "<text class=\"time\" x=\"4\" y=\"" + fixed(y + 6, 1) + "\">" + escapeHtml(time) +
         "</text>";
    g += arrowShape(fromX, toX, y);
    g += svgLabel(layout, center, y - 26, "flags", flagsLabel, 9.4);
    g += svgLabel(layout, center, y - 9, "addr", addresses, 8.5);
    return g + "</g>\n";
}

std::string laneHeads(const LadderLayout& layout, double bottom) {
    std::string svg;
    for (std::size_t i = 0; i < layout.lanes.size(); ++i) {
        double x = layout.laneX[i];
        double boxWidth =
            std::clamp(static_cast<double>(layout.lanes[i].size()) * 9.2 + 26, 80.0, 150.0);
        svg += "<line class=\"lane-line\" x1=\"" + fixed(x, 1) + "\" y1=\"38\" x2=\"" +
               fixed(x, 1) + "\" y2=\"" + fixed(bottom, 1) + "\"/>";
        svg += "<g class=\"lane-head\"><rect x=\"" + fixed(x - boxWidth / 2, 1) +
               "\" y=\"8\" width=\"" + fixed(boxWidth, 1) + "\" height=\"30\" rx=\"6\"/>" +
               "<text x=\"" + fixed(x, 1) + "\" y=\"28\">" + escapeHtml(layout.lanes[i]) +
               "</text></g>\n";
    }
    return svg;
}

// The packets in time order (stable, so equal times keep capture order).
std::vector<const Json*> packetsInTimeOrder(const Json& flow) {
    std::vector<const Json*> packets;
    for (const Json& packet : asArray(member(flow, "ladder"))) {
        packets.push_back(&packet);
    }
    std::stable_sort(packets.begin(), packets.end(), [](const Json* a, const Json* b) {
        return numberOf(member(*a, "time_ms")) < numberOf(member(*b, "time_ms"));
    });
    return packets;
}

std::string ladderSvg(const Json& run, const Json& flow) {
    std::string html = "<h4>Ladder</h4>\n";
    LadderLayout layout = ladderLayout(run);
    std::vector<const Json*> packets = packetsInTimeOrder(flow);
    if (packets.empty() || layout.lanes.empty()) {
        return html + "<p class=\"empty\">no packets to draw</p>\n";
    }
    std::string arrows;
    std::size_t drawn = 0;
    std::size_t skipped = 0;
    for (const Json* packet : packets) {
        int from = laneIndex(layout, textOf(*packet, "from"));
        int to = laneIndex(layout, textOf(*packet, "to"));
        if (drawn == kMaxLadderArrows || from < 0 || to < 0) {
            ++skipped;
            continue;
        }
        ++drawn;
        arrows += ladderArrow(layout, *packet, from, to,
                              layout.top + layout.row * static_cast<double>(drawn) - 10);
    }
    double bottom = layout.top + layout.row * static_cast<double>(drawn) + 6;
    double height = bottom + (skipped > 0 ? 30 : 10);
    html += "<div class=\"ladder-box\"><svg class=\"ladder\" viewBox=\"0 0 " +
            fixed(layout.width, 0) + " " + fixed(height, 0) + "\" role=\"img\" aria-label=\"" +
            escapeHtml("ladder diagram of " + textOf(flow, "client")) + "\">\n";
    html += laneHeads(layout, bottom) + arrows;
    if (skipped > 0) {
        html += "<text class=\"more\" x=\"" + fixed(layout.gutter + 4, 0) + "\" y=\"" +
                fixed(bottom + 20, 1) + "\">" + std::to_string(skipped) +
                " more packets not drawn</text>\n";
    }
    return html + "</svg></div>\n";
}

// ---------------------------------------------------------------------------------------------
// Run column.

// What the client told an explicit proxy, message by message (absent for transparent flows).
std::string handshakeTable(const Json& handshake) {
    if (!handshake.is_object()) {
        return "";
    }
    std::string html = "<h4>Explicit proxy handshake at " + escapeHtml(textOf(handshake, "point")) +
                       ": " + codeOrNone(textOf(handshake, "request")) +
                       "</h4>\n<div class=\"scroll\"><table class=\"kv handshake\"><tbody>\n";
    for (const Json& message : asArray(member(handshake, "messages"))) {
        bool fromClient = textOf(message, "from") == "client";
        html += "<tr><th>" + std::string(fromClient ? "client → proxy" : "proxy → client") +
                "</th><td><code>" + escapeHtml(textOf(message, "shown")) + "</code></td><td>" +
                escapeHtml(textOf(message, "meaning")) + "</td></tr>\n";
    }
    return html + "</tbody></table></div>\n";
}

std::string flowArticle(const Json& run, const Json& flow) {
    std::string udp = textOf(flow, "protocol") == "udp" ? "UDP " : "";
    std::string html = "<article class=\"flow\">\n<h3>" + udp + "client " +
                       codeOrNone(textOf(flow, "client")) + " → intended " +
                       codeOrNone(textOf(flow, "intended")) + "</h3>\n";
    html += hopTable(run, flow);
    html += handshakeTable(member(flow, "explicit"));
    html += internalsTable(flow);
    html += ladderSvg(run, flow);
    return html + "</article>\n";
}

std::string runColumn(const Json& run) {
    std::string name = textOf(run, "name");
    std::string title = textOf(run, "title");
    std::string html = "<section class=\"run\" data-run=\"" + escapeHtml(name) + "\">\n<h2>" +
                       escapeHtml(title.empty() ? name : title) + "</h2>\n<p class=\"chips\">";
    for (const char* key : {"lab", "mode", "family"}) {
        std::string value = textOf(run, key);
        if (!value.empty()) {
            html +=
                "<span class=\"chip\">" + std::string(key) + ": " + escapeHtml(value) + "</span>";
        }
    }
    html += "</p>\n";
    const Json& flows = asArray(member(run, "flows"));
    if (flows.empty()) {
        html += "<p class=\"empty\">no TCP flow was captured in this run, and no UDP one</p>\n";
    }
    for (const Json& flow : flows) {
        html += flowArticle(run, flow);
    }
    return html + "</section>\n";
}

// ---------------------------------------------------------------------------------------------
// Comparison table: the first flow of each run, side by side.

struct ComparisonRow {
    const char* label;
    std::string (*value)(const Json& flow);
    bool block = false;  // long command text, shown as a wrapped block
};

std::string hopDestination(const Json& flow, std::size_t index) {
    const Json& hops = asArray(member(flow, "hops"));
    return index < hops.size() ? textOf(hops[index], "destination") : std::string();
}

std::string internal(const Json& flow, const char* key) {
    return textOf(member(flow, "internals"), key);
}

std::string natPresent(const Json& flow) {
    const Json& present = member(member(member(flow, "internals"), "nat"), "present");
    return present.is_boolean() ? textOf(present) : std::string();
}

std::string joinedRules(const Json& flow) {
    std::string rules;
    for (const Json& rule : asArray(member(member(flow, "internals"), "rules"))) {
        rules += (rules.empty() ? "" : "\n") + textOf(rule);
    }
    return rules;
}

std::string steeredBy(const Json& flow) {
    std::string objects;
    for (const Json& object : asArray(member(member(flow, "internals"), "steered_by"))) {
        objects += (objects.empty() ? "" : "\n") + textOf(object);
    }
    return objects;
}

std::string clientConfiguration(const Json& flow) {
    const Json& handshake = member(flow, "explicit");
    if (!handshake.is_object()) {
        return "nothing (transparent)";
    }
    std::string request = textOf(handshake, "request");
    return "the proxy's address (" + request.substr(0, request.find(' ')) + ")";
}

const ComparisonRow kComparisonRows[] = {
    {"client configured with", clientConfiguration},
    {"client sent to", [](const Json& f) { return hopDestination(f, 0); }},
    {"gateway inbound saw", [](const Json& f) { return hopDestination(f, 1); }},
    {"accepted socket local", [](const Json& f) { return internal(f, "accepted_local"); }},
    {"recovered by", [](const Json& f) { return internal(f, "recovered_by"); }},
    {"NAT mapping", natPresent},
    {"rule", joinedRules, true},
    {"steered by", steeredBy, true},
    {"kernel path (trace)", [](const Json& f) { return internal(f, "kernel_path"); }, true},
    {"server saw", [](const Json& f) { return internal(f, "server_saw"); }},
};

const Json& firstFlow(const Json& run) {
    static const Json kNull;
    const Json& flows = asArray(member(run, "flows"));
    return flows.empty() ? kNull : flows.front();
}

std::string comparisonRow(const ComparisonRow& row, const Json& runs) {
    std::vector<std::string> values;
    for (const Json& run : runs) {
        values.push_back(row.value(firstFlow(run)));
    }
    bool differs =
        std::adjacent_find(values.begin(), values.end(), std::not_equal_to<>()) != values.end();
    std::string html = differs ? "<tr class=\"differs\">" : "<tr>";
    html += std::string("<th>") + row.label + "</th>";
    for (const std::string& value : values) {
        bool block = row.block && !value.empty();
        html += block ? "<td><code class=\"rule\">" + escapeHtml(value) + "</code></td>"
                      : "<td>" + codeOrNone(value) + "</td>";
    }
    return html + "</tr>\n";
}

std::string comparisonSection(const Json& runs) {
    std::string html =
        "<section class=\"compare\">\n<h2>Side by side</h2>\n<p class=\"note\">First flow of each "
        "run; rows marked ≠ differ between runs.</p>\n<table><thead><tr><th></th>";
    for (const Json& run : runs) {
        std::string title = textOf(run, "title");
        html += "<th>" + escapeHtml(title.empty() ? textOf(run, "name") : title) + "</th>";
    }
    html += "</tr></thead><tbody>\n";
    for (const ComparisonRow& row : kComparisonRows) {
        html += comparisonRow(row, runs);
    }
    return html + "</tbody></table>\n</section>\n";
}

}  // namespace

std::string renderHtmlReport(const Json& report) {
    const Json& runs = asArray(member(report, "runs"));
    std::string html = pageHead(report);
    html += "<main class=\"runs\">\n";
    if (runs.empty()) {
        html += "<p class=\"empty\">the report has no runs</p>\n";
    }
    for (const Json& run : runs) {
        html += runColumn(run);
    }
    html += "</main>\n";
    if (runs.size() >= 2) {
        html += comparisonSection(runs);
    }
    return html + pageFoot();
}

}  // namespace tplab
