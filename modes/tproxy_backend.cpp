// The listener is IP_TRANSPARENT; getsockname() of an accepted socket is where the client aimed.
#include "tproxy_backend.hpp"

#include <netinet/in.h>

#include <cstring>

#include "listen_socket.hpp"

namespace tplab {

Fd TproxyBackend::openListener(const Endpoint& address, const ListenerOptions& options) {
    return openListeningSocket(api_, address, options, /*transparent=*/true);
}

// `local` already is getsockname() of the accepted socket. SO_ORIGINAL_DST is deliberately not
// asked: on a TPROXY socket there is no NAT, and the answer can be a meaningless tuple.
DestinationLookup TproxyBackend::recoverDestination(int /*acceptedFd*/, const Endpoint& /*client*/,
                                                    const Endpoint& local) {
    DestinationLookup lookup;
    lookup.method = "getsockname";
    if (local.family() == AF_UNSPEC) {
        lookup.failure = "getsockname returned no address";
        return lookup;
    }
    lookup.destination = local.unmapped();
    return lookup;
}

Fd TproxyBackend::openDatagramListener(const Endpoint& address, const ListenerOptions& options) {
    return openDatagramSocket(api_, address, options);
}

// IP_ORIGDSTADDR (SOL_IP) for IPv4 datagrams, including IPv4 ones on a dual-stack socket;
// IPV6_ORIGDSTADDR (SOL_IPV6) for IPv6. Both must be read: a proxy that reads only SOL_IP
// silently fails on IPv6.
std::optional<Endpoint> TproxyBackend::datagramDestination(const msghdr& message) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&message), c)) {
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR &&
            c->cmsg_len >= CMSG_LEN(sizeof(sockaddr_in))) {
            sockaddr_in address{};
            std::memcpy(&address, CMSG_DATA(c), sizeof(address));
            return Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&address), sizeof(address));
        }
        if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR &&
            c->cmsg_len >= CMSG_LEN(sizeof(sockaddr_in6))) {
            sockaddr_in6 address{};
            std::memcpy(&address, CMSG_DATA(c), sizeof(address));
            return Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&address), sizeof(address))
                .unmapped();
        }
    }
    return std::nullopt;
}

}  // namespace tplab
