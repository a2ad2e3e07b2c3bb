// Text rendering; every table goes through one column-aligning helper.
#include "text_report.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

namespace tplab {
namespace {

using Json = nlohmann::ordered_json;
using Row = std::vector<std::string>;

std::string text(const Json& value, const std::string& absent = "-") {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_null()) {
        return absent;
    }
    return value.dump();
}

void appendTable(std::ostringstream& out, const std::vector<Row>& rows, const std::string& indent) {
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t i = 0; i < row.size(); ++i) {
            widths[i] = std::max(widths[i], row[i].size());
        }
    }
    for (const auto& row : rows) {
        std::string line = indent;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) {
                line += std::string(widths[i] - row[i].size() + 3, ' ');
            }
        }
        line.erase(line.find_last_not_of(' ') + 1);
        out << line << "\n";
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

void appendFlow(std::ostringstream& out, const Json& flow, std::size_t number) {
    out << "flow " << number << ": " << text(flow["client"]) << " -> " << text(flow["intended"])
        << "\n";
    std::vector<Row> hops = {{"point", "source", "destination", ""}};
    for (const auto& hop : flow["hops"]) {
        hops.push_back(
            {text(hop["point"]), text(hop["source"]), text(hop["destination"]), changes(hop)});
    }
    appendTable(out, hops, "  ");
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

void appendSideBySide(std::ostringstream& out, const Json& runs) {
    std::vector<Row> rows = {{""},
                             {"client sent to"},
                             {"gateway inbound saw"},
                             {"accepted socket's local address"},
                             {"destination recovered by"},
                             {"NAT mapping"},
                             {"rule target"},
                             {"server saw"}};
    for (const auto& run : runs) {
        rows[0].push_back(text(run["title"]));
        if (run["flows"].empty()) {
            for (std::size_t i = 1; i < rows.size(); ++i)
                rows[i].push_back("(no flow)");
            continue;
        }
        const Json& flow = run["flows"][0];
        const Json& hops = flow["hops"];
        const Json& in = flow["internals"];
        rows[1].push_back(text(hops[0]["destination"]));
        rows[2].push_back(hops.size() > 1 ? text(hops[1]["destination"]) : "-");
        rows[3].push_back(text(in["accepted_local"]));
        rows[4].push_back(in["original_dst"].is_null() ? "failed: " + text(in["recovered_by"])
                                                       : text(in["recovered_by"]));
        rows[5].push_back(natSummary(in["nat"], true));
        rows[6].push_back(ruleTargets(in["rules"]));
        rows[7].push_back(text(in["server_saw"]));
    }
    out << "== side by side (first flow of each run) ==\n";
    appendTable(out, rows, "  ");
}

}  // namespace

std::string renderTextReport(const Json& report) {
    std::ostringstream out;
    for (const auto& run : report["runs"]) {
        out << "== " << text(run["title"]) << " ==";
        if (run["lab"].is_string())
            out << "   (lab " << text(run["lab"]) << ", " << text(run["family"], "") << ")";
        out << "\n";
        if (run["flows"].empty()) {
            out << "no TCP connection was captured at " << text(run["points"][0]["label"])
                << "\n\n";
            continue;
        }
        std::size_t number = 1;
        for (const auto& flow : run["flows"]) {
            appendFlow(out, flow, number++);
            out << "\n";
        }
    }
    if (report["runs"].size() >= 2) {
        appendSideBySide(out, report["runs"]);
    }
    return out.str();
}

}  // namespace tplab
