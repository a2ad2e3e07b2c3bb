// The report's "kernel path" row: the trace's own words, shortened to hooks and rule targets.
#include "trace_summary.hpp"

#include <regex>

namespace tplab {

namespace {

// The target or statement that decides: "-j TPROXY" -> "TPROXY", nft "tproxy ..." -> "tproxy".
std::string ruleName(const nlohmann::ordered_json& step) {
    static const std::regex target(R"(-j ([A-Z]+))");
    std::smatch match;
    std::string iptables = step.value("iptables", "");
    if (std::regex_search(iptables, match, target))
        return match[1];
    std::string rule = step.value("rule", "");
    for (const char* word : {"tproxy", "redirect", "dnat", "masquerade", "snat", "mark set"}) {
        if (rule.find(word) != std::string::npos)
            return word;
    }
    return "rule " + std::to_string(step.value("handle", -1L));
}

}  // namespace

std::string kernelPathSummary(const nlohmann::ordered_json& trace) {
    if (!trace.is_object() || !trace.contains("legs") || !trace["legs"].is_array() ||
        trace["legs"].empty())
        return "-";
    const auto& leg = trace["legs"][0];
    if (!leg.contains("packets") || !leg["packets"].is_array() || leg["packets"].empty())
        return "-";
    const auto& packet = leg["packets"][0];
    std::string line;
    for (const auto& step : packet.value("steps", nlohmann::ordered_json::array())) {
        std::string kind = step.value("kind", "");
        if (kind == "hook") {
            line += (line.empty() ? "" : " > ") + step.value("hook", std::string("?"));
            std::string text = step.value("text", "");
            if (!text.empty())
                line +=
                    " (" +
                    text.substr(text.find("now ") == std::string::npos ? 0 : text.find("now ")) +
                    ")";
        } else if (kind == "rule") {
            line += " [" + step.value("table", std::string()) + " " + ruleName(step) + " -> " +
                    step.value("verdict", std::string("?")) + "]";
        }
    }
    std::string fate = packet.value("fate", "");
    if (!packet["drop"].is_null() && packet["drop"].is_object())
        fate = "dropped: " + packet["drop"].value("reason", std::string("?"));
    return line.empty() ? "-" : line + "; " + fate;
}

}  // namespace tplab
