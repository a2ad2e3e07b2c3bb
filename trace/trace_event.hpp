// One line of `nft -a monitor trace`, parsed: which packet (trace id), where (family, table,
// chain), and what (the packet's headers, a rule and its verdict, a chain's policy).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tplab {

// The headers nft prints on a "packet:" line (the first event of each chain a packet enters).
struct PacketHeaders {
    std::string iif, oif;  // interface names, empty if not given
    int family = 0;        // 4 or 6
    std::string saddr, daddr;
    std::string protocol;  // "tcp", "udp" or empty
    std::uint16_t sport = 0, dport = 0;
    std::string tcpFlags;  // "syn", "syn | ack", ... as nft prints them
    std::uint32_t mark = 0;
    bool hasMark = false;
};

struct TraceEvent {
    enum class Kind { Packet, Rule, Return, Policy };
    double time = 0;  // CLOCK_MONOTONIC seconds when tplab read the line
    std::string id;   // trace id: one per packet (per skb), a keyed hash chosen by the kernel
    std::string family, table, chain;
    Kind kind = Kind::Packet;
    PacketHeaders packet;  // Kind::Packet; for Policy and Return only mark and hasMark
    std::string rule;      // Kind::Rule: the rule as nft prints it, counters left out
    long handle = -1;      // Kind::Rule: the rule's handle
    std::string verdict;   // Rule, Return, Policy: accept, drop, continue, jump CHAIN, ...
};

// Parses one line of `nft -a monitor trace` (or of `nft -a monitor`: lines that are not traces
// give nullopt).
std::optional<TraceEvent> parseTraceLine(const std::string& line, double time);

}  // namespace tplab
