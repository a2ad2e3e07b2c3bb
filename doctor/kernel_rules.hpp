// The parts of the kernel's rule set the doctor reasons about, read from the JSON forms of the
// tools (`ip -j rule`, `ip -j route`, `nft -j list ruleset`) rather than scraped from their text,
// so that any valid spelling of a rule (a mask, an iif between fwmark and lookup, a `table ip`)
// reads the same. Parsing is pure: the unit tests feed it captured output.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tplab {

// One line of `ip -j rule`; the selectors the doctor does not look at are not kept.
struct IpRule {
    std::uint32_t priority = 0;
    std::optional<std::uint32_t> fwmark;  // absent: the rule matches any mark
    std::uint32_t fwmask = 0xffffffffU;   // `fwmark V` alone is V/0xffffffff
    std::string iif;                      // empty: any
    std::string oif;
    bool otherSelectors = false;  // from/to prefixes, ipproto, ports, ...: narrower than its mark
    std::string table;            // "100", "main", "local"
};

// One line of `ip -j route show table T`.
struct Route {
    std::string type;  // "local", "unicast", ...
    std::string dst;   // "default", "198.51.100.0/24"
    std::string dev;
};

// A `meta mark set` of an nft rule: the bits it sets (value within mask).
struct MarkSet {
    std::uint32_t value = 0;
    std::uint32_t mask = 0xffffffffU;
};

// A mark an nft rule matches: `meta mark V` or `meta mark & M == V` (socket mark likewise).
struct MarkMatch {
    std::uint32_t value = 0;
    std::uint32_t mask = 0xffffffffU;
    bool matches(std::uint32_t mark) const { return (mark & mask) == value; }
};

// One nft rule, reduced to what matters for transparent proxying.
struct NftRule {
    std::string family;  // "ip", "ip6", "inet"
    std::string table;
    std::string chain;
    std::string hook;  // the base chain's hook ("prerouting", "output"); empty otherwise
    std::uint64_t handle = 0;
    bool socketTransparent = false;       // `socket transparent 1`
    std::optional<MarkMatch> metaMark;    // `meta mark ...` matched
    std::optional<MarkMatch> socketMark;  // `socket mark ...` matched
    std::optional<MarkSet> markSet;       // `meta mark set ...`
    std::optional<std::uint16_t> tproxyPort;
    std::string tproxyFamily;                // "ip", "ip6", or empty (the table's family)
    std::optional<std::uint32_t> ctZoneSet;  // `ct zone set N`
    std::string jumpTo;                      // `jump C` / `goto C`
    bool redirects = false;                  // `redirect` or `dnat`: intercepts by NAT

    // Where it is, for a person: "table ip tproxy4 chain prerouting (handle 3)".
    std::string where() const;
    // Whether it applies to IPv6 (else IPv4) packets: its table's family, or its tproxy's.
    bool appliesTo(bool v6) const;
};

// Each returns an empty list for text that is not the JSON it expects (a missing tool).
std::vector<IpRule> parseIpRules(const std::string& json);
std::vector<Route> parseRoutes(const std::string& json);
std::vector<NftRule> parseNftRuleset(const std::string& json);

// The table numbers (names) the rules look up.
std::vector<std::string> tablesOf(const std::vector<IpRule>& rules);

}  // namespace tplab
