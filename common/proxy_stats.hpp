// Counters the proxy keeps for the `stats` event (SIGUSR1 and exit).
#pragma once

#include <array>
#include <cstdint>
#include <iterator>

#include "close_reason.hpp"

namespace tplab {

struct ProxyStats {
    std::uint64_t accepted = 0;
    std::uint64_t active = 0;
    std::uint64_t bytesClientToUpstream = 0;
    std::uint64_t bytesUpstreamToClient = 0;
    std::uint64_t acceptErrors = 0;
    std::uint64_t acceptPausedAtLimit = 0;
    std::uint64_t udpDatagramsDropped = 0;  // no original destination, loop, or table full
    std::array<std::uint64_t, std::size(kAllCloseReasons)> closed{};

    std::uint64_t& closedFor(CloseReason reason) {
        return closed[static_cast<std::size_t>(reason)];
    }
};

}  // namespace tplab
