// The packet's journey, assembled from nft trace events and kfree_skb drops: legs (one per
// connection), packets, and per packet the steps in order, each one a line of plain words.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "drop_event.hpp"
#include "ruleset_snapshot.hpp"
#include "trace_event.hpp"

namespace tplab {

struct JourneyStep {
    enum class Kind { Hook, Rule, Policy, Routing, Socket, Drop, End };
    Kind kind = Kind::Hook;
    std::string hook;        // Hook: prerouting, input, forward, output, postrouting
    std::string table;       // Rule, Policy: "ip mangle", "inet tplab"
    std::string chain;       // Rule, Policy
    std::string priority;    // Rule, Policy: "mangle (-150)", or "jump" for a chain reached so
    std::string rule;        // Rule: nft's text of the rule
    long handle = -1;        // Rule
    std::string iptables;    // Rule: the rule as iptables -S prints it, for iptables-nft rules
    std::string verdict;     // Rule, Policy
    std::string iif, oif;    // Hook
    std::uint32_t mark = 0;  // Hook: the packet's mark entering the hook
    PacketHeaders headers;   // Hook: the packet as it entered the hook (after earlier NAT)
    std::string text;        // Hook: a NAT rewrite seen here; Routing, Socket...: what happened
    bool inferred = false;   // Routing, Socket: worked out, not reported by the kernel
};

struct PacketTrace {
    std::vector<std::string> ids;  // the trace ids of this packet and its identical copies
    PacketHeaders headers;
    std::vector<JourneyStep> steps;
    int copies = 1;  // identical packets in a row (retransmissions) shown once
    double firstTime = 0, lastTime = 0;
    std::string fate;  // "delivered", "sent", "dropped", "vanished"
    std::optional<DropEvent> drop;
    std::string signature;
};

struct Leg {
    std::string protocol;
    std::string client, server;  // "addr:port" as the first packet went
    std::vector<PacketTrace> packets;
    int packetsNotShown = 0;
};

struct Journey {
    std::vector<Leg> legs;
    int packetsTraced = 0;
    int legsNotShown = 0;
    int dropsInWindow = 0;
    int dropsTied = 0;  // drops tied to a packet of the flow (copies included)
    std::vector<DropEvent> untiedDrops;
};

struct JourneyOptions {
    std::string ownTable;  // tplab's own table (its chains mark the hooks)
    int legs = 2;
    int packetsPerLeg = 3;
};

// What routing would decide for this packet with this mark, in words ("local, table 100");
// empty if it cannot say. The real one runs `ip -j route get`; tests pass their own.
using RouteProbe = std::function<std::string(const PacketHeaders&, std::uint32_t mark)>;

Journey assembleJourney(const std::vector<TraceEvent>& events, const std::vector<DropEvent>& drops,
                        const RulesetSnapshot& rules, const JourneyOptions& options,
                        const RouteProbe& probe);

}  // namespace tplab
