// RLIMIT_NOFILE: a relay needs two fds per connection (plus pipes for splice), and a stock
// Debian soft limit of 1,024 would make it fail at ~500 connections. The proxy raises its soft
// limit to the hard limit at start and checks that its limits fit in it.
#pragma once

#include <cstddef>

namespace tplab {

struct FdLimits {
    std::size_t soft = 0;
    std::size_t hard = 0;
};

// Raises the soft limit to the hard one; returns both as they are afterwards.
FdLimits raiseOpenFileLimit();

// The fds a proxy with these limits must be able to hold at once, pipes aside: two per
// connection, one per UDP session and one reply socket each, and a reserve for listeners,
// epoll, eventfds, the events file and the start-up probes.
std::size_t fdsNeeded(std::size_t maxConnections, std::size_t maxUdpSessions, std::size_t workers,
                      std::size_t listeners);

// Pipes (two fds each) are an optimisation: at most a quarter of the connections, and only as
// many as the fds left over allow (none: every transfer copies).
std::size_t pipesThatFit(std::size_t limit, std::size_t maxConnections, std::size_t maxUdpSessions,
                         std::size_t workers, std::size_t listeners);

// The largest connection limit that fits in `limit` with pipes at a quarter of it.
std::size_t connectionsThatFit(std::size_t limit, std::size_t maxUdpSessions, std::size_t workers,
                               std::size_t listeners);

}  // namespace tplab
