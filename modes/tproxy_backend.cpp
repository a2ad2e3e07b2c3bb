// The listener is IP_TRANSPARENT; getsockname() of an accepted socket is where the client aimed.
#include "tproxy_backend.hpp"

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

}  // namespace tplab
