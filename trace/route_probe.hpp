// Asks the routing table what it would do with a traced packet: `ip -j route get DADDR from
// SADDR iif IIF mark M`, in the current namespace.
#pragma once

#include <cstdint>
#include <string>

#include "trace_event.hpp"

namespace tplab {

// "ip route get ... mark 0x1: local, table 100, dev lo", or the error ip printed. Empty if the
// packet lacks what the question needs. Addresses and the interface are validated first.
std::string probeRoute(const PacketHeaders& packet, std::uint32_t mark);

// The answer of `ip -j route get` in words (pure; for tests).
std::string describeRouteAnswer(const std::string& ipJson);

}  // namespace tplab
