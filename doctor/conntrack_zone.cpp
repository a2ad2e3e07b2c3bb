#include "conntrack_zone.hpp"

#include <regex>
#include <sstream>

#include "shell_command.hpp"

namespace tplab {
namespace {

// `-m mark --mark V[/M]` in an iptables-save line: whether `mark` matches it.
bool lineMatchesMark(const std::string& line, std::uint32_t mark) {
    static const std::regex markMatch(
        "-m mark --mark (0x[0-9a-fA-F]+|[0-9]+)(?:/(0x[0-9a-fA-F]+))?");
    std::smatch match;
    if (!std::regex_search(line, match, markMatch)) {
        return false;
    }
    auto value = static_cast<std::uint32_t>(std::stoul(match[1], nullptr, 0));
    auto mask = match[2].matched ? static_cast<std::uint32_t>(std::stoul(match[2], nullptr, 16))
                                 : 0xffffffffU;
    return (mark & mask) == value;
}

std::string hex(std::uint32_t value) {
    std::ostringstream text;
    text << "0x" << std::hex << value;
    return text.str();
}

std::string output(std::vector<std::string> argv, bool& ok) {
    auto outcome = runCommand(ShellCommand{std::move(argv), ""});
    ok = ok || outcome.exitCode == 0;
    return outcome.exitCode == 0 ? outcome.output : "";
}

}  // namespace

ZoneCoverage conntrackZoneFor(std::uint32_t mark, const std::string& iptablesSave,
                              const std::vector<NftRule>& nft, bool v6) {
    ZoneCoverage coverage;
    std::istringstream lines(iptablesSave);
    std::string table;
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind('*', 0) == 0) {
            table = line.substr(1);
            continue;
        }
        // The replies' rule may tell the legs apart by the interface instead of the mark
        // (`-i veth-s -m socket --transparent -j CT --zone 1`, docs/full-transparency.md).
        bool markMatched = line.find("-m mark") == std::string::npos
                               ? line.rfind("-A PREROUTING ", 0) == 0
                               : lineMatchesMark(line, mark);
        if (table != "raw" || line.find("-j CT") == std::string::npos ||
            line.find("--zone") == std::string::npos || !markMatched) {
            continue;
        }
        if (line.rfind("-A OUTPUT ", 0) == 0) {
            coverage.outgoing = true;
        } else if (line.rfind("-A PREROUTING ", 0) == 0 &&
                   line.find("-m socket") != std::string::npos) {
            coverage.replies = true;
        }
    }
    for (const auto& rule : nft) {
        if (!rule.ctZoneSet || !rule.appliesTo(v6)) {
            continue;
        }
        if (rule.hook == "output" && rule.metaMark && rule.metaMark->matches(mark)) {
            coverage.outgoing = true;
        } else if (rule.hook == "prerouting" && rule.socketTransparent &&
                   (rule.socketMark ? rule.socketMark->matches(mark) : !rule.metaMark)) {
            coverage.replies = true;
        }
    }
    return coverage;
}

bool intercepts(const std::string& iptablesSave, const std::vector<NftRule>& nft, bool v6) {
    if (iptablesSave.find("-j TPROXY") != std::string::npos ||
        iptablesSave.find("-j REDIRECT") != std::string::npos ||
        iptablesSave.find("-j DNAT") != std::string::npos) {
        return true;
    }
    for (const auto& rule : nft) {
        if ((rule.tproxyPort || rule.redirects) && rule.appliesTo(v6)) {
            return true;
        }
    }
    return false;
}

std::string conntrackZoneWarning(std::uint32_t mark) {
    bool readable = false;
    std::string rules4 = output({"iptables-save"}, readable);
    std::string rules6 = output({"ip6tables-save"}, readable);
    auto nft = parseNftRuleset(output({"nft", "-j", "list", "ruleset"}, readable));
    if (!readable) {
        return "";
    }
    std::string missing;
    bool any = false;
    for (bool v6 : {false, true}) {
        const std::string& rules = v6 ? rules6 : rules4;
        if (!intercepts(rules, nft, v6)) {
            continue;
        }
        any = true;
        if (!conntrackZoneFor(mark, rules, nft, v6).complete()) {
            missing += std::string(missing.empty() ? "" : " and ") + (v6 ? "IPv6" : "IPv4");
        }
    }
    if (!any && !conntrackZoneFor(mark, rules4, nft, false).complete()) {
        missing = "IPv4";
    }
    if (missing.empty()) {
        return "";
    }
    return "--spoof-source --mark " + hex(mark) + ": no conntrack zone rule matches mark " +
           hex(mark) + " (" + missing +
           "), so an upstream whose 4-tuple a client flow also uses clashes with it and one "
           "is dropped; see docs/full-transparency.md#the-fix";
}

}  // namespace tplab
