// The namespace's rule set as the trace needs it: each chain's hook and priority, and for
// iptables-nft rules, the rule as iptables prints it (nft shows `xt target "TPROXY"` only).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tplab {

struct ChainInfo {
    std::string hook;                // prerouting, ..., or empty for a chain reached by jump
    std::string priority;            // as nft prints it: "mangle", "dstnat", "-2147483648"
    std::vector<long> handles;       // its rules' handles, in order
    std::vector<std::string> texts;  // its rules as nft lists them, same order
};

struct RuleRef {
    std::string family, table, chain;
    long handle = -1;
    std::string text;
};

class RulesetSnapshot {
  public:
    // Parses `nft -a list ruleset` output (pure; for tests).
    static RulesetSnapshot parse(const std::string& nftListing);
    // Runs `nft -a list ruleset` in the current namespace, then iptables-nft -S for the tables
    // iptables-nft manages.
    static RulesetSnapshot take();

    [[nodiscard]] const ChainInfo* chain(const std::string& family, const std::string& table,
                                         const std::string& chain) const;
    // "-A PREROUTING -p tcp ... -j TPROXY ..." for an iptables-nft rule, or empty.
    [[nodiscard]] std::string iptablesRule(const std::string& family, const std::string& table,
                                           const std::string& chain, long handle) const;
    // Every rule of the base chains at `hook` whose text contains `word`.
    [[nodiscard]] std::vector<RuleRef> rulesAtHook(const std::string& hook,
                                                   const std::string& word) const;
    // Whether any iptables-nft table is present (for the "legacy rules are invisible" note).
    [[nodiscard]] bool hasIptablesNft() const { return !iptablesTables_.empty(); }

  private:
    std::map<std::string, ChainInfo> chains_;                          // "family table chain"
    std::map<std::string, std::vector<std::string>> iptablesLines_;    // "family table chain"
    std::vector<std::pair<std::string, std::string>> iptablesTables_;  // family, table
};

// "mangle (-150)": a priority name with its number, for the chains iptables uses.
std::string describePriority(const std::string& family, const std::string& hook,
                             const std::string& priority);

}  // namespace tplab
