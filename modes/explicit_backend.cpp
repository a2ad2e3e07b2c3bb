// The explicit modes' listener: an ordinary socket, as any server opens one.
#include "explicit_backend.hpp"

#include <stdexcept>

#include "http_connect.hpp"
#include "listen_socket.hpp"

namespace tplab {

Fd ExplicitBackend::openListener(const Endpoint& address, const ListenerOptions& options) {
    return openListeningSocket(api_, address, options, false);
}

DestinationLookup ExplicitBackend::recoverDestination(int /*acceptedFd*/,
                                                      const Endpoint& /*client*/,
                                                      const Endpoint& /*local*/) {
    DestinationLookup lookup;
    lookup.method = requestSource();
    lookup.failure = "an explicit proxy learns the destination from the client's request";
    return lookup;
}

Fd ExplicitBackend::openDatagramListener(const Endpoint& /*address*/,
                                         const ListenerOptions& /*options*/) {
    throw std::invalid_argument(std::string(name()) +
                                " mode proxies TCP only: UDP ASSOCIATE is not implemented; "
                                "use --mode tproxy --udp for UDP");
}

std::optional<Endpoint> ExplicitBackend::datagramDestination(const msghdr& /*message*/) {
    return std::nullopt;
}

std::unique_ptr<ClientHandshake> HttpConnectBackend::clientHandshake() {
    return std::make_unique<HttpConnectHandshake>(credentials_);
}

}  // namespace tplab
