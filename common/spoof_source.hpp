// Full transparency: an upstream socket that carries the client's address, so the server sees
// the client and not the proxy. Independent of how the connection was intercepted.
#pragma once

#include "endpoint.hpp"
#include "result.hpp"

namespace tplab {

// IP_TRANSPARENT (IPV6_TRANSPARENT) lets the socket bind an address this host does not own;
// it is bound to the client's address with port 0, the port chosen at connect()
// (IP_BIND_ADDRESS_NO_PORT), so many connections of one client never collide on a port.
// The server's replies are addressed to the client: the gateway must deliver them to this
// socket (socket match -> fwmark -> local route), see docs/full-transparency.md.
Status bindToClientAddress(int fd, const Endpoint& client, const Endpoint& destination);

}  // namespace tplab
