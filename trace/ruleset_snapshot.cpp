// Reads `nft -a list ruleset` text: "table FAMILY NAME {", "chain NAME {", "type filter hook
// prerouting priority mangle; policy accept;", rules ending "# handle N". iptables-nft's
// tables are those of family ip/ip6 named filter, nat, mangle, raw, security; iptables -S lists a
// chain's rules in the same order as nft, so the Nth handle is the Nth -A line (only used when
// the counts agree).
#include "ruleset_snapshot.hpp"

#include <algorithm>
#include <regex>
#include <sstream>

#include "shell_command.hpp"

namespace tplab {

namespace {
std::string key(const std::string& family, const std::string& table, const std::string& chain) {
    return family + " " + table + " " + chain;
}
}  // namespace

RulesetSnapshot RulesetSnapshot::parse(const std::string& listing) {
    RulesetSnapshot snapshot;
    static const std::regex tableLine(R"(^table (\w+) (\S+) \{)");
    static const std::regex chainLine(R"(^\s+chain (\S+) \{)");
    static const std::regex typeLine(
        R"(^\s+type \w+ hook (\w+) (?:device \S+ )?priority ([^;]+);)");
    static const std::regex handleTail(R"(# handle ([0-9]+)\s*$)");
    std::istringstream lines(listing);
    std::string line, family, table, chain;
    std::smatch match;
    while (std::getline(lines, line)) {
        if (std::regex_search(line, match, tableLine)) {
            family = match[1];
            table = match[2];
            chain.clear();
            // iptables-nft's tables; nft warns about them once, on stderr, so go by name.
            static const std::regex iptablesTable(R"(^(filter|nat|mangle|raw|security)$)");
            if ((family == "ip" || family == "ip6") && std::regex_match(table, iptablesTable))
                snapshot.iptablesTables_.emplace_back(family, table);
        } else if (std::regex_search(line, match, chainLine)) {
            chain = match[1];
            snapshot.chains_[key(family, table, chain)];
        } else if (!chain.empty() && std::regex_search(line, match, typeLine)) {
            auto& info = snapshot.chains_[key(family, table, chain)];
            info.hook = match[1];
            info.priority = match[2];
        } else if (!chain.empty() && line.find("\t\t") == 0 &&
                   std::regex_search(line, match, handleTail)) {
            auto& info = snapshot.chains_[key(family, table, chain)];
            info.handles.push_back(std::stol(match[1]));
            std::string text = line.substr(0, static_cast<std::size_t>(match.position(0)));
            text.erase(0, text.find_first_not_of('\t'));
            while (!text.empty() && text.back() == ' ')
                text.pop_back();
            info.texts.push_back(text);
        }
    }
    return snapshot;
}

RulesetSnapshot RulesetSnapshot::take() {
    auto listed = runCommand({{"nft", "-a", "list", "ruleset"}, ""});
    RulesetSnapshot snapshot = parse(listed.exitCode == 0 ? listed.output : "");
    for (const auto& [family, table] : snapshot.iptablesTables_) {
        if (family != "ip" && family != "ip6")
            continue;
        auto saved = runCommand(
            {{family == "ip" ? "iptables-nft" : "ip6tables-nft", "-w", "-t", table, "-S"}, ""});
        if (saved.exitCode != 0)
            continue;
        std::istringstream lines(saved.output);
        std::string line;
        while (std::getline(lines, line)) {
            line = line.substr(0, line.find("# Warning:"));  // nft's stderr, merged in
            std::istringstream words(line);
            std::string flag, chain;
            if (words >> flag >> chain && flag == "-A")
                snapshot.iptablesLines_[key(family, table, chain)].push_back(line);
        }
    }
    return snapshot;
}

const ChainInfo* RulesetSnapshot::chain(const std::string& family, const std::string& table,
                                        const std::string& chainName) const {
    auto found = chains_.find(key(family, table, chainName));
    return found == chains_.end() ? nullptr : &found->second;
}

std::string RulesetSnapshot::iptablesRule(const std::string& family, const std::string& table,
                                          const std::string& chainName, long handle) const {
    const ChainInfo* info = chain(family, table, chainName);
    auto lines = iptablesLines_.find(key(family, table, chainName));
    if (info == nullptr || lines == iptablesLines_.end() ||
        info->handles.size() != lines->second.size())
        return "";
    auto at = std::find(info->handles.begin(), info->handles.end(), handle);
    if (at == info->handles.end())
        return "";
    return lines->second[static_cast<std::size_t>(at - info->handles.begin())];
}

std::vector<RuleRef> RulesetSnapshot::rulesAtHook(const std::string& hook,
                                                  const std::string& word) const {
    std::vector<RuleRef> found;
    for (const auto& [name, info] : chains_) {
        if (info.hook != hook)
            continue;
        std::istringstream words(name);
        RuleRef ref;
        words >> ref.family >> ref.table >> ref.chain;
        for (std::size_t i = 0; i < info.texts.size(); ++i) {
            if (info.texts[i].find(word) == std::string::npos)
                continue;
            ref.handle = info.handles[i];
            ref.text = info.texts[i];
            found.push_back(ref);
        }
    }
    return found;
}

std::string describePriority(const std::string& family, const std::string& hook,
                             const std::string& priority) {
    // nft's named priorities (nft(8), "STANDARD PRIORITY NAMES"); bridge is not traced here.
    static const std::map<std::string, int> named = {
        {"raw", -300}, {"mangle", -150}, {"filter", 0}, {"security", 50}};
    auto found = named.find(priority);
    if (found != named.end())
        return priority + " (" + std::to_string(found->second) + ")";
    if (priority == "dstnat")
        return "dstnat (-100)";
    if (priority == "srcnat")
        return "srcnat (100)";
    (void)family;
    (void)hook;
    return priority;
}

}  // namespace tplab
