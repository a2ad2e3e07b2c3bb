// Text rendering; every table goes through one column-aligning helper.
#include "text_report.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

#include "text_escape.hpp"

namespace tplab {
namespace {

using Json = nlohmann::ordered_json;
using Row = std::vector<std::string>;

// object[key], or null when the object lacks it: a const json's operator[] must not be asked
// for a missing key (undefined behaviour; ASan saw it read past the object's storage).
const Json& member(const Json& object, const char* key) {
    static const Json absent;
    auto found = object.find(key);
    return found == object.end() ? absent : *found;
}

std::string text(const Json& value, const std::string& absent = "-") {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_null()) {
        return absent;
    }
    return value.dump();
}

// Splits one cell into lines of at most `width` characters, breaking after a space, comma
// or semicolon where it can and mid-word only when a word alone is wider than the column.
std::vector<std::string> wrapCell(const std::string& cell, std::size_t width) {
    std::vector<std::string> lines;
    std::string rest = cell;
    while (rest.size() > width) {
        std::size_t cut = std::string::npos;
        for (std::size_t i = width; i > width / 3; --i) {
            char c = rest[i - 1];
            if (c == ' ' || c == ',' || c == ';') {
                cut = i;
                break;
            }
        }
        if (cut == std::string::npos)
            cut = width;
        std::string head = rest.substr(0, cut);
        head.erase(head.find_last_not_of(' ') + 1);
        lines.push_back(head);
        rest = rest.substr(cut);
        rest.erase(0, rest.find_first_not_of(' ') == std::string::npos
                          ? rest.size()
                          : rest.find_first_not_of(' '));
    }
    if (!rest.empty() || lines.empty())
        lines.push_back(rest);
    return lines;
}

// Aligns rows into columns three spaces apart. When the table would be wider than
// kReportColumns, the widest columns give way (never below kNarrowestColumn) and their cells
// wrap onto continuation lines, so a projector shows every character without a cut.
void appendTable(std::ostringstream& out, const std::vector<Row>& rows, const std::string& indent) {
    constexpr std::size_t kGap = 3;
    constexpr std::size_t kNarrowestColumn = 12;
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t i = 0; i < row.size(); ++i) {
            widths[i] = std::max(widths[i], row[i].size());
        }
    }
    auto total = [&] {
        std::size_t sum = indent.size();
        for (auto w : widths)
            sum += w;
        return sum + kGap * (widths.empty() ? 0 : widths.size() - 1);
    };
    // One character at a time from the widest column (the labels in the first column last),
    // so that the columns shrink evenly.
    while (total() > kReportColumns) {
        auto first = widths.size() > 1 ? widths.begin() + 1 : widths.begin();
        auto widest = std::max_element(first, widths.end());
        if (*widest <= kNarrowestColumn) {
            widest = std::max_element(widths.begin(), widths.end());
            if (*widest <= kNarrowestColumn)
                break;
        }
        --*widest;
    }
    for (const auto& row : rows) {
        std::vector<std::vector<std::string>> cells;
        std::size_t height = 1;
        for (std::size_t i = 0; i < row.size(); ++i) {
            cells.push_back(wrapCell(row[i], widths[i]));
            height = std::max(height, cells.back().size());
        }
        for (std::size_t n = 0; n < height; ++n) {
            std::string line = indent;
            for (std::size_t i = 0; i < cells.size(); ++i) {
                std::string part = n < cells[i].size() ? cells[i][n] : "";
                line += part;
                if (i + 1 < cells.size()) {
                    line += std::string(widths[i] - part.size() + kGap, ' ');
                }
            }
            line.erase(line.find_last_not_of(' ') + 1);
            out << line << "\n";
        }
    }
}

std::string changes(const Json& hop) {
    std::vector<std::string> changed;
    if (hop.value("source_changed", false))
        changed.push_back("source changed");
    if (hop.value("destination_changed", false))
        changed.push_back("destination changed");
    if (!hop.value("seen", false))
        changed.push_back("(no packet of this flow here)");
    std::string joined;
    for (const auto& item : changed)
        joined += (joined.empty() ? "" : ", ") + item;
    return joined.empty() ? "" : "<- " + joined;
}

std::string recovered(const Json& internals) {
    if (internals["original_dst"].is_null()) {
        return internals["lookup_error"].is_string() ? "none: " + text(internals["lookup_error"])
                                                     : "-";
    }
    return text(internals["original_dst"]) + " (" + text(internals["recovered_by"]) + ")";
}

std::string natSummary(const Json& nat, bool brief) {
    if (nat.value("present", false)) {
        return brief ? "yes" : "yes: " + text(nat["entry"]);
    }
    if (nat.value("tracked", false)) {
        return brief ? "none (tracked, not NATed)"
                     : "none (tracked, not NATed): " + text(nat["entry"]);
    }
    return "none (no conntrack entry)";
}

std::string ruleTargets(const Json& rules) {
    std::string summary;
    for (const auto& rule : rules) {
        std::string line = text(rule);
        auto target = line.find(" -j ");
        std::string shown = target == std::string::npos ? line : line.substr(target + 4);
        summary += (summary.empty() ? "" : "; ") + shown;
    }
    return summary.empty() ? "-" : summary;
}

// The steering objects in short: the routing ones name their kernel object, the BPF one its
// link and program ("BPF link 7 -> prog 31 tplab_steer: steered 2").
std::string steeringSummary(const Json& objects) {
    std::string summary;
    for (const auto& object : objects) {
        std::string line = text(object);
        if (auto open = line.find(" (");
            line.rfind("BPF link ", 0) == 0 && open != std::string::npos) {
            line.erase(open, line.find(')', open) + 1 - open);
        }
        summary += (summary.empty() ? "" : "; ") + line;
    }
    return summary.empty() ? "-" : summary;
}

// What the client told an explicit proxy, message by message, as its own wire carried it.
void appendHandshake(std::ostringstream& out, const Json& handshake) {
    if (!handshake.is_object()) {
        return;
    }
    out << "  explicit proxy handshake at " << text(handshake["point"]) << ": "
        << text(handshake["request"]) << "\n";
    std::vector<Row> rows;
    for (const auto& message : handshake["messages"]) {
        bool fromClient = text(message["from"]) == "client";
        rows.push_back({fromClient ? "client -> proxy" : "proxy -> client", text(message["shown"]),
                        text(message["meaning"])});
    }
    appendTable(out, rows, "    ");
}

void appendFlow(std::ostringstream& out, const Json& flow, std::size_t number) {
    out << "flow " << number << (flow.value("protocol", "tcp") == "udp" ? " (UDP)" : "") << ": "
        << text(flow["client"]) << " -> " << text(flow["intended"]) << "\n";
    std::vector<Row> hops = {{"point", "source", "destination", ""}};
    for (const auto& hop : flow["hops"]) {
        hops.push_back(
            {text(hop["point"]), text(hop["source"]), text(hop["destination"]), changes(hop)});
    }
    appendTable(out, hops, "  ");
    appendHandshake(out, flow.value("explicit", Json(nullptr)));
    const Json& in = flow["internals"];
    out << "  internals:\n";
    std::vector<Row> rows = {
        {"accepted socket's local address", text(in["accepted_local"])},
        {"original destination", recovered(in)},
        {"NAT mapping (conntrack)", natSummary(in["nat"], false)},
        {"proxy's upstream socket", text(in["upstream_local"])},
        {"server saw the connection from", text(in["server_saw"])},
    };
    if (!in["socket"].is_null()) {
        rows.push_back({"accepted socket (ss)", text(in["socket"])});
    }
    bool firstObject = true;
    for (const auto& object : in.value("steered_by", Json::array())) {
        rows.push_back({firstObject ? "steered by" : "", text(object)});
        firstObject = false;
    }
    if (firstObject) {
        rows.push_back({"steered by", "-"});
    }
    bool first = true;
    for (const auto& rule : in["rules"]) {
        rows.push_back({first ? "rules that matched (counters)" : "", text(rule)});
        first = false;
    }
    if (first) {
        rows.push_back({"rules that matched (counters)", "-"});
    }
    appendTable(out, rows, "    ");
}

// An explicit proxy's client names the proxy (and the destination in the protocol); a
// transparent proxy's client is configured with nothing.
std::string clientConfiguration(const Json& flow) {
    const Json& handshake = flow.value("explicit", Json(nullptr));
    if (!handshake.is_object()) {
        return "nothing (transparent)";
    }
    std::string request = text(handshake["request"]);
    return "the proxy's address (" + request.substr(0, request.find(' ')) + ")";
}

// One table per address family (at most three runs each), so that it fits kReportColumns.
void appendSideBySide(std::ostringstream& out, const std::vector<const Json*>& runs,
                      const std::string& family) {
    std::vector<Row> rows = {{""},
                             {"client configured with"},
                             {"client sent to"},
                             {"gateway inbound saw"},
                             {"accepted socket (local)"},
                             {"recovered by"},
                             {"NAT mapping"},
                             {"rule target"},
                             {"steered by"},
                             {"kernel path (trace)"},
                             {"server saw"}};
    for (const Json* run_ptr : runs) {
        const Json& run = *run_ptr;
        rows[0].push_back(text(run["title"]));
        if (run["flows"].empty()) {
            for (std::size_t i = 1; i < rows.size(); ++i)
                rows[i].push_back("(no flow)");
            continue;
        }
        const Json& flow = run["flows"][0];
        const Json& hops = flow["hops"];
        const Json& in = flow["internals"];
        rows[1].push_back(clientConfiguration(flow));
        rows[2].push_back(text(hops[0]["destination"]));
        rows[3].push_back(hops.size() > 1 ? text(hops[1]["destination"]) : "-");
        rows[4].push_back(text(in["accepted_local"]));
        rows[5].push_back(in["original_dst"].is_null() ? "failed: " + text(in["recovered_by"])
                                                       : text(in["recovered_by"]));
        rows[6].push_back(natSummary(in["nat"], true));
        rows[7].push_back(ruleTargets(in["rules"]));
        rows[8].push_back(steeringSummary(in.value("steered_by", Json::array())));
        rows[9].push_back(in.value("kernel_path", std::string("-")));
        rows[10].push_back(text(in["server_saw"]));
    }
    out << "== side by side" << (family.empty() ? "" : ", " + family)
        << " (first flow of each run) ==\n";
    appendTable(out, rows, "  ");
}

// The runs grouped by family in report order, each family split evenly into tables of at most
// three runs.
std::vector<std::pair<std::string, std::vector<const Json*>>> sideBySideGroups(const Json& runs) {
    constexpr std::size_t kRunsPerTable = 3;
    std::vector<std::pair<std::string, std::vector<const Json*>>> families;
    for (const auto& run : runs) {
        std::string family = text(run["family"], "");
        auto it = std::find_if(families.begin(), families.end(),
                               [&](const auto& group) { return group.first == family; });
        if (it == families.end()) {
            families.push_back({family, {}});
            it = families.end() - 1;
        }
        it->second.push_back(&run);
    }
    bool one_run_each = std::all_of(families.begin(), families.end(),
                                    [](const auto& group) { return group.second.size() == 1; });
    if (families.size() > 1 && one_run_each) {
        // Nothing to compare within a family: compare across them instead.
        std::vector<const Json*> all;
        for (const auto& group : families)
            all.push_back(group.second.front());
        families = {{"", all}};
    }
    std::vector<std::pair<std::string, std::vector<const Json*>>> groups;
    for (const auto& [family, members] : families) {
        std::size_t tables = (members.size() + kRunsPerTable - 1) / kRunsPerTable;
        std::size_t per_table = (members.size() + tables - 1) / tables;
        for (std::size_t i = 0; i < members.size(); i += per_table) {
            auto end = std::min(members.size(), i + per_table);
            groups.push_back({family,
                              {members.begin() + static_cast<std::ptrdiff_t>(i),
                               members.begin() + static_cast<std::ptrdiff_t>(end)}});
        }
    }
    return groups;
}

}  // namespace

std::string renderTextReport(const Json& report) {
    std::ostringstream out;
    for (const auto& run : member(report, "runs")) {
        out << "== " << text(member(run, "title")) << " ==";
        if (member(run, "lab").is_string())  // absent from captures made outside the labs
            out << "   (lab " << text(member(run, "lab")) << ", " << text(member(run, "family"), "")
                << ")";
        out << "\n";
        const Json& flows = member(run, "flows");
        if (flows.empty()) {
            const Json& points = member(run, "points");
            out << "no TCP connection or UDP flow was captured at "
                << text(points.empty() ? Json() : member(points[0], "label")) << "\n\n";
            continue;
        }
        std::size_t number = 1;
        for (const auto& flow : flows) {
            appendFlow(out, flow, number++);
            out << "\n";
        }
    }
    if (report["runs"].size() >= 2) {
        for (const auto& [family, runs] : sideBySideGroups(report["runs"])) {
            if (runs.size() >= 2) {
                appendSideBySide(out, runs, family);
                out << "\n";
            }
        }
    }
    // What clients wrote (names, request lines, via the capture or the events) is data: an ESC
    // or a byte that is not UTF-8 reaches the reader's terminal as \x1b, \xff.
    return escapeForDisplay(out.str(), /*multiLine=*/true);
}

}  // namespace tplab
