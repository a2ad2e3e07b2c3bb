#include "kernel_rules.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <set>

namespace tplab {
namespace {

using Json = nlohmann::json;

Json parsed(const std::string& text) {
    return Json::parse(text, nullptr, /*allow_exceptions=*/false);
}

// A number as the tools print it: 1, "0x1", "1".
std::optional<std::uint64_t> number(const Json& value) {
    if (value.is_number_unsigned() || value.is_number_integer()) {
        return value.get<std::uint64_t>();
    }
    if (value.is_string()) {
        try {
            std::size_t used = 0;
            auto result = std::stoull(value.get<std::string>(), &used, 0);
            if (used == value.get<std::string>().size()) {
                return result;
            }
        } catch (const std::exception&) {
        }
    }
    return std::nullopt;
}

// object[key], or null when the object has no such key (const operator[] would not check).
const Json& field(const Json& object, const char* key) {
    static const Json none;
    if (!object.is_object()) {
        return none;
    }
    auto found = object.find(key);
    return found == object.end() ? none : *found;
}

std::string text(const Json& object, const char* key) {
    auto found = object.find(key);
    return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

// `{"meta": {"key": "mark"}}` is the expression `meta mark`.
bool isKey(const Json& expression, const char* kind, const char* key) {
    return expression.is_object() && expression.contains(kind) && expression[kind].is_object() &&
           text(expression[kind], "key") == key;
}

// The right side of `meta mark V` or `meta mark & M == V`, when `left` is `kind mark`.
std::optional<MarkMatch> markMatch(const Json& match, const char* kind) {
    if (text(match, "op") != "==" && text(match, "op") != "in") {
        return std::nullopt;
    }
    const Json& left = field(match, "left");
    auto value = number(field(match, "right"));
    if (!value) {
        return std::nullopt;
    }
    if (isKey(left, kind, "mark")) {
        return MarkMatch{static_cast<std::uint32_t>(*value), 0xffffffffU};
    }
    if (left.is_object() && left.contains("&") && left["&"].is_array() && left["&"].size() == 2 &&
        isKey(left["&"][0], kind, "mark")) {
        if (auto mask = number(left["&"][1])) {
            return MarkMatch{static_cast<std::uint32_t>(*value), static_cast<std::uint32_t>(*mask)};
        }
    }
    return std::nullopt;
}

// `meta mark set V` (the whole mark) or `meta mark set meta mark | V` (only V's bits).
std::optional<MarkSet> markSet(const Json& value) {
    if (auto whole = number(value)) {
        return MarkSet{static_cast<std::uint32_t>(*whole), 0xffffffffU};
    }
    if (value.is_object() && value.contains("|") && value["|"].is_array() &&
        value["|"].size() == 2 && isKey(value["|"][0], "meta", "mark")) {
        if (auto bits = number(value["|"][1])) {
            auto mask = static_cast<std::uint32_t>(*bits);
            return MarkSet{mask, mask};
        }
    }
    return std::nullopt;
}

void readExpression(const Json& expression, NftRule& rule) {
    if (!expression.is_object()) {
        return;
    }
    if (expression.contains("match")) {
        const Json& match = expression["match"];
        if (isKey(field(match, "left"), "socket", "transparent") &&
            number(field(match, "right")) == 1U && text(match, "op") == "==") {
            rule.socketTransparent = true;
        }
        if (auto mark = markMatch(match, "meta")) {
            rule.metaMark = mark;
        }
        if (auto mark = markMatch(match, "socket")) {
            rule.socketMark = mark;
        }
    } else if (expression.contains("mangle")) {
        const Json& mangle = expression["mangle"];
        if (isKey(field(mangle, "key"), "meta", "mark")) {
            rule.markSet = markSet(field(mangle, "value"));
        } else if (isKey(field(mangle, "key"), "ct", "zone")) {
            if (auto zone = number(field(mangle, "value"))) {
                rule.ctZoneSet = static_cast<std::uint32_t>(*zone);
            }
        }
    } else if (expression.contains("tproxy")) {
        const Json& tproxy = expression["tproxy"];
        rule.tproxyFamily = text(tproxy, "family");
        rule.tproxyPort = static_cast<std::uint16_t>(number(field(tproxy, "port")).value_or(0));
    } else if (expression.contains("redirect") || expression.contains("dnat")) {
        rule.redirects = true;
    } else if (expression.contains("jump") || expression.contains("goto")) {
        const Json& jump = expression.contains("jump") ? expression["jump"] : expression["goto"];
        rule.jumpTo = text(jump, "target");
    }
}

}  // namespace

std::string NftRule::where() const {
    return "table " + family + " " + table + " chain " + chain + " (handle " +
           std::to_string(handle) + ")";
}

bool NftRule::appliesTo(bool v6) const {
    if (!tproxyFamily.empty()) {
        return tproxyFamily == (v6 ? "ip6" : "ip");
    }
    return family == "inet" || family == (v6 ? "ip6" : "ip");
}

std::vector<IpRule> parseIpRules(const std::string& json) {
    std::vector<IpRule> rules;
    Json list = parsed(json);
    if (!list.is_array()) {
        return rules;
    }
    for (const auto& entry : list) {
        if (!entry.is_object()) {
            continue;
        }
        IpRule rule;
        rule.priority = static_cast<std::uint32_t>(number(field(entry, "priority")).value_or(0));
        if (entry.contains("fwmark")) {
            rule.fwmark = static_cast<std::uint32_t>(number(entry["fwmark"]).value_or(0));
        }
        if (entry.contains("fwmask")) {
            rule.fwmask = static_cast<std::uint32_t>(number(entry["fwmask"]).value_or(0xffffffffU));
        }
        rule.iif = text(entry, "iif");
        rule.oif = text(entry, "oif");
        rule.table = text(entry, "table");
        rule.otherSelectors = (entry.contains("src") && text(entry, "src") != "all") ||
                              entry.contains("dst") || entry.contains("ipproto") ||
                              entry.contains("sport") || entry.contains("dport") ||
                              entry.contains("tos") || entry.contains("uid_range");
        rules.push_back(rule);
    }
    return rules;
}

std::vector<Route> parseRoutes(const std::string& json) {
    std::vector<Route> routes;
    Json list = parsed(json);
    if (!list.is_array()) {
        return routes;
    }
    for (const auto& entry : list) {
        if (entry.is_object()) {
            std::string type = text(entry, "type");
            routes.push_back(
                {type.empty() ? "unicast" : type, text(entry, "dst"), text(entry, "dev")});
        }
    }
    return routes;
}

std::vector<NftRule> parseNftRuleset(const std::string& json) {
    std::vector<NftRule> rules;
    Json document = parsed(json);
    if (!document.is_object() || !document.contains("nftables") ||
        !document["nftables"].is_array()) {
        return rules;
    }
    // family/table/chain -> hook, from the chain objects (listed before their rules).
    std::map<std::string, std::string> hooks;
    for (const auto& object : document["nftables"]) {
        if (object.is_object() && object.contains("chain")) {
            const Json& chain = object["chain"];
            hooks[text(chain, "family") + "/" + text(chain, "table") + "/" + text(chain, "name")] =
                text(chain, "hook");
        }
        if (!object.is_object() || !object.contains("rule")) {
            continue;
        }
        const Json& entry = object["rule"];
        NftRule rule;
        rule.family = text(entry, "family");
        rule.table = text(entry, "table");
        rule.chain = text(entry, "chain");
        rule.handle = number(field(entry, "handle")).value_or(0);
        rule.hook = hooks[rule.family + "/" + rule.table + "/" + rule.chain];
        if (entry.contains("expr") && entry["expr"].is_array()) {
            for (const auto& expression : entry["expr"]) {
                readExpression(expression, rule);
            }
        }
        rules.push_back(rule);
    }
    return rules;
}

std::vector<std::string> tablesOf(const std::vector<IpRule>& rules) {
    std::set<std::string> tables;
    for (const auto& rule : rules) {
        if (!rule.table.empty() && rule.table != "local" && rule.table != "main" &&
            rule.table != "default") {
            tables.insert(rule.table);
        }
    }
    return {tables.begin(), tables.end()};
}

}  // namespace tplab
