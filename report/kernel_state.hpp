// Parsers for the gateway's snapshots: conntrack -L, ss -tanpe, iptables-save -c / nft.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "endpoint.hpp"

namespace tplab {

struct ConntrackEntry {
    Endpoint originalSource;
    Endpoint originalDestination;
    Endpoint replySource;
    Endpoint replyDestination;
    std::string line;

    // True when the reply tuple is not the original one reversed: NAT rewrote something.
    [[nodiscard]] bool isNat() const;
};

// Lines of `conntrack -L` (or /proc/net/nf_conntrack); lines that are not TCP/UDP entries
// (headers, "conntrack v1.4.7 ... flow entries") are skipped.
std::vector<ConntrackEntry> parseConntrack(const std::vector<std::string>& lines);

// The `ss -tanpe` line of the socket whose peer is `peer` (IPv4-mapped forms included).
std::optional<std::string> findSocketLine(const std::vector<std::string>& lines,
                                          const Endpoint& peer);

// Rules whose packet counter is not zero, from `iptables-save -c` / `ip6tables-save -c`
// ("[3:180] -A PREROUTING ..." under "*nat") and from `nft list ruleset` ("counter packets 3").
std::vector<std::string> matchedRules(const std::vector<std::string>& lines);

// "192.0.2.1:80", "[2001:db8::1]:80", "[::ffff:192.0.2.1]:80" -> Endpoint; nothing for "*:*".
std::optional<Endpoint> parseEndpointLoosely(const std::string& text);

// The whitespace-separated words of one line of a tool's output.
std::vector<std::string> words(const std::string& line);

}  // namespace tplab
