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
    std::uint64_t udpDatagramsDropped = 0;      // the sum of the udpDropped* reasons below
    std::uint64_t udpDroppedNoDestination = 0;  // no IP_ORIGDSTADDR control message
    std::uint64_t udpDroppedLoop = 0;           // addressed to the proxy's own port
    std::uint64_t udpDroppedSessionError = 0;   // socket/bind/connect/epoll failed for a new flow
    std::uint64_t udpSendErrors = 0;            // send() or sendto() failed: datagram lost
    std::uint64_t udpEvictedClientLimit = 0;    // the client's LRU session gave way to its new flow
    std::uint64_t udpEvictedTableFull = 0;      // the LRU session overall gave way to a new flow
    std::uint64_t udpEvictedFdLimit = 0;        // an LRU session closed to free fds (EMFILE)
    std::uint64_t udpSessions = 0;              // open now
    std::uint64_t udpReplySockets = 0;          // open now (one per destination in use)
    std::array<std::uint64_t, std::size(kAllCloseReasons)> closed{};

    std::uint64_t& closedFor(CloseReason reason) {
        return closed[static_cast<std::size_t>(reason)];
    }
};

}  // namespace tplab
