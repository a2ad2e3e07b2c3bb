// The one place that prepares a socket toward a server, for TCP sessions, UDP sessions and the
// start-up probe alike: SO_MARK (so the rules can exempt the proxy's own traffic), the client's
// address for --spoof-source, and TCP_NODELAY (the relay already batches; Nagle only delays).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "endpoint.hpp"
#include "fd.hpp"
#include "result.hpp"

namespace tplab {

struct UpstreamOptions {
    std::optional<std::uint32_t> mark;  // SO_MARK
    bool spoofSource = false;           // bind the client's address (IP_TRANSPARENT)
};

struct UpstreamFailure {
    int error = 0;
    std::string call;  // "setsockopt(SO_MARK, 2)", "bind(198.51.100.1) for --spoof-source", ...
};

// A non-blocking SOCK_STREAM or SOCK_DGRAM socket for `destination`, not yet connected.
Result<Fd> openUpstreamSocket(int type, const Endpoint& client, const Endpoint& destination,
                              const UpstreamOptions& options, UpstreamFailure& failure);

// At start: can this process set what the options need? Throws std::system_error naming the
// call and the capability, so a missing CAP_NET_ADMIN shows once, not on every connection.
void probeUpstreamOptions(const UpstreamOptions& options);

}  // namespace tplab
