// Whether the rules give the proxy's spoofed upstream connections a conntrack zone of their
// own. Without one, an upstream leg whose 4-tuple a client flow also uses clashes with it in
// conntrack and one of the two is dropped (tests/integration/spoof_collision_test.cpp; about
// 1 to 3 % of 1,000 concurrent flows). `tplab rules --spoof-source` adds the zone rules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel_rules.hpp"

namespace tplab {

// The zone rules of one family that concern the upstreams marked `mark` (SO_MARK, --mark).
struct ZoneCoverage {
    bool outgoing = false;  // raw OUTPUT: packets with the mark get a zone (-j CT --zone)
    bool replies = false;   // raw PREROUTING: replies to the marked transparent socket too
    bool complete() const { return outgoing && replies; }
};

// `iptablesSave`: iptables-save (or ip6tables-save) text; `nft`: the parsed ruleset.
ZoneCoverage conntrackZoneFor(std::uint32_t mark, const std::string& iptablesSave,
                              const std::vector<NftRule>& nft, bool v6);

// Whether the family's rules intercept anything (TPROXY, REDIRECT, DNAT; iptables or nft).
bool intercepts(const std::string& iptablesSave, const std::vector<NftRule>& nft, bool v6);

// For `tplab proxy --spoof-source --mark M` at start: one line when an intercepting family has
// no zone rule for M, naming the mark and the fix's doc section; empty otherwise (and when the
// rules cannot be read). Reads iptables-save, ip6tables-save and nft -j list ruleset.
std::string conntrackZoneWarning(std::uint32_t mark);

}  // namespace tplab
