// Full transparency: an upstream socket that carries the client's address, so the server sees
// the client and not the proxy. Independent of how the connection was intercepted.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "endpoint.hpp"
#include "result.hpp"

namespace tplab {

// IP_TRANSPARENT (IPV6_TRANSPARENT) lets the socket bind an address this host does not own;
// it is bound to the client's address with port 0, the port chosen at connect()
// (IP_BIND_ADDRESS_NO_PORT), so many connections of one client never collide on a port.
// The server's replies are addressed to the client: the gateway must deliver them to this
// socket (socket match -> fwmark -> local route), see docs/full-transparency.md.
Status bindToClientAddress(int fd, const Endpoint& client, const Endpoint& destination);

// True for a source port the upstream to this destination must not use.
using AvoidPort = std::function<bool(std::uint16_t port)>;

// The ports bindToClientAddressAvoiding draws from: net.ipv4.ip_local_port_range of the
// calling thread's network namespace (it applies to IPv6 too), 32768-60999 if unreadable.
std::pair<std::uint16_t, std::uint16_t> localPortRange();

// The same socket, but the source port is chosen here instead of by connect(), because the
// kernel's choice only checks local sockets: it can pick a port the client itself is using
// toward the same server, whose flow is a conntrack entry with the very tuple the upstream
// would get (docs/full-transparency.md, "Port collisions"). `avoid` must return true for the
// ports of the client's own connections to `destination` that this proxy accepted, and for the
// proxy's open upstreams from that client address to `destination`.
// Binds (client address, q) with SO_REUSEADDR, q from `range` starting at a random offset,
// skipping ports `avoid` names and ports bind() refuses. Returns q, or EADDRNOTAVAIL when the
// range is exhausted. connect() may still fail with EADDRNOTAVAIL (the 4-tuple is held by a
// TIME_WAIT socket): then close the socket and call again on a fresh one with q avoided too.
Result<std::uint16_t> bindToClientAddressAvoiding(int fd, const Endpoint& client,
                                                  const Endpoint& destination,
                                                  const AvoidPort& avoid,
                                                  std::pair<std::uint16_t, std::uint16_t> range);

}  // namespace tplab
