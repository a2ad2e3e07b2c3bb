// Opening a listening TCP socket, shared by the backends; `transparent` is TPROXY's one difference.
#pragma once

#include "backend.hpp"
#include "socket_ops.hpp"

namespace tplab {

// socket, SO_REUSEADDR, IPV6_V6ONLY, [IP_TRANSPARENT], bind, listen. Throws std::system_error
// naming the failed call and the address.
Fd openListeningSocket(SocketApi& api, const Endpoint& address, const ListenerOptions& options,
                       bool transparent);

// A transparent UDP socket that reports each datagram's original destination in a control
// message: socket, SO_REUSEADDR, IPV6_V6ONLY, IP(V6)_TRANSPARENT, IP(V6)_RECVORIGDSTADDR, bind.
Fd openDatagramSocket(SocketApi& api, const Endpoint& address, const ListenerOptions& options);

}  // namespace tplab
