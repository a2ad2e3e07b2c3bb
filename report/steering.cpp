// Reading steering objects out of the snapshot text: tolerant, a line it does not know is skipped.
#include "steering.hpp"

#include <set>

#include "kernel_state.hpp"

namespace tplab {
namespace {

using Json = nlohmann::ordered_json;

std::string joined(const std::vector<std::string>& parts, std::size_t from, std::size_t to) {
    std::string text;
    for (std::size_t i = from; i < to && i < parts.size(); ++i) {
        text += (text.empty() ? "" : " ") + parts[i];
    }
    return text;
}

// "[2:120] -t nat -A PREROUTING ... -j REDIRECT --to-ports 15001" -> "nat REDIRECT rule (2
// packets)", for the targets that hand a connection to a proxy; nothing for other rules.
std::string interceptingRule(const std::string& rule) {
    auto parts = words(rule);
    std::string table, target;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        if (parts[i] == "-t") {
            table = parts[i + 1];
        } else if (parts[i] == "-j") {
            target = parts[i + 1];
        }
    }
    std::string packets = parts.empty() ? "" : parts[0].substr(1, parts[0].find(':') - 1);
    bool counted = !packets.empty() && packets.find_first_not_of("0123456789") == std::string::npos;
    if ((target != "REDIRECT" && target != "DNAT" && target != "TPROXY") || !counted ||
        table.empty() || table[0] == '-') {
        return {};
    }
    return table + " " + target + " rule (" + packets + " packets)";
}

enum class Section { Other, Rules4, Rules6, Routes4, Routes6 };

Section sectionOf(const std::string& header) {
    if (header.find(" ip rule") != std::string::npos) {
        return Section::Rules4;
    }
    if (header.find(" ip -6 rule") != std::string::npos) {
        return Section::Rules6;
    }
    if (header.find(" ip -4 route") != std::string::npos) {
        return Section::Routes4;
    }
    if (header.find(" ip -6 route") != std::string::npos) {
        return Section::Routes6;
    }
    return Section::Other;
}

// A policy rule that sends the flow to a table of its own: "32765: from all iif veth-c ipproto
// tcp dport 80 lookup 100" -> the words after "from all" (or after the priority), and the table.
// The kernel's own rules (lookup local, main, default) and rules for another port are skipped.
bool steeringRule(const std::string& line, std::uint16_t port, std::string& shown,
                  std::string& table) {
    auto parts = words(line);
    if (parts.size() < 3 || parts[0].back() != ':') {
        return false;
    }
    std::size_t begin = 1;
    if (parts.size() > 3 && parts[1] == "from" && parts[2] == "all") {
        begin = 3;
    }
    for (std::size_t i = 1; i + 1 < parts.size(); ++i) {
        if (parts[i] == "dport" && parts[i + 1] != std::to_string(port)) {
            return false;
        }
        if (parts[i] == "lookup") {
            table = parts[i + 1];
        }
    }
    if (table.empty() || table == "local" || table == "main" || table == "default") {
        return false;
    }
    shown = "ip rule: " + joined(parts, begin, parts.size());
    return true;
}

// "local default dev lo table 100 scope host" -> "route: local default dev lo table 100".
std::string localRouteIn(const std::string& line, const std::set<std::string>& tables) {
    auto parts = words(line);
    if (parts.empty() || parts[0] != "local") {
        return {};
    }
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        if (parts[i] == "table" && tables.count(parts[i + 1])) {
            return "route: " + joined(parts, 0, i + 2);
        }
    }
    return {};
}

std::string number(const Json& object, const char* key) {
    return object.is_object() && object.contains(key) ? object[key].dump() : "?";
}

std::vector<std::string> bpfObjects(const Json& bpf) {
    std::vector<std::string> objects;
    if (!bpf.is_object()) {
        return objects;
    }
    const Json programs = bpf.value("programs", Json::array());
    const Json counters = bpf.value("counters", Json::object());
    for (const auto& link : bpf.value("links", Json::array())) {
        std::string prog = number(link, "prog_id");
        std::string name = "?";
        for (const auto& program : programs) {
            if (number(program, "id") == prog && program.contains("name")) {
                name = program["name"].get<std::string>();
            }
        }
        std::string text = "BPF link " + number(link, "id") + " (" +
                           link.value("attach_type", link.value("type", std::string("?"))) +
                           ", netns " + number(link, "netns_ino") + ") -> prog " + prog + " " +
                           name;
        if (counters.contains("steered")) {
            text += ": steered " + counters["steered"].dump();
        }
        objects.push_back(text);
    }
    return objects;
}

}  // namespace

std::vector<std::string> steeringObjects(const std::vector<std::string>& ruleLines, const Json& bpf,
                                         bool ipv6, std::uint16_t port) {
    std::vector<std::string> objects;
    for (const auto& rule : matchedRules(ruleLines)) {
        if (auto shown = interceptingRule(rule); !shown.empty()) {
            objects.push_back(shown);
        }
    }
    const Section wantRules = ipv6 ? Section::Rules6 : Section::Rules4;
    const Section wantRoutes = ipv6 ? Section::Routes6 : Section::Routes4;
    Section section = Section::Other;
    std::set<std::string> tables;
    for (const auto& line : ruleLines) {
        if (line.rfind("### ", 0) == 0) {
            section = sectionOf(line);
            continue;
        }
        std::string shown, table;
        if (section == wantRules && steeringRule(line, port, shown, table)) {
            objects.push_back(shown);
            tables.insert(table);
        } else if (section == wantRoutes) {
            if (auto route = localRouteIn(line, tables); !route.empty()) {
                objects.push_back(route);
            }
        }
    }
    for (auto& object : bpfObjects(bpf)) {
        objects.push_back(std::move(object));
    }
    return objects;
}

}  // namespace tplab
