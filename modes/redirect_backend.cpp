// getsockopt(SO_ORIGINAL_DST) asks conntrack for the ORIGINAL tuple's destination.
#include "redirect_backend.hpp"

#include <netinet/in.h>

#include <stdexcept>

#include "listen_socket.hpp"

namespace tplab {

Fd RedirectBackend::openListener(const Endpoint& address, const ListenerOptions& options) {
    return openListeningSocket(api_, address, options, /*transparent=*/false);
}

DestinationLookup RedirectBackend::recoverDestination(int acceptedFd, const Endpoint& client,
                                                      const Endpoint& /*local*/) {
    // An IPv4 client on a dual-stack [::] listener (::ffff:a.b.c.d) has an IPv4 conntrack
    // entry, so it must be asked with the IPv4 call even though the socket is AF_INET6.
    const bool v4 = client.isIpv4() || client.isV4Mapped();
    DestinationLookup lookup;
    lookup.method = v4 ? "SO_ORIGINAL_DST" : "IP6T_SO_ORIGINAL_DST";
    const std::string call = "getsockopt(" + std::string(v4 ? "SOL_IP" : "SOL_IPV6") + ", " +
                             std::string(lookup.method) + ", fd " + std::to_string(acceptedFd) +
                             ")";
    auto answer = api_.originalDestination(acceptedFd, v4 ? SOL_IP : SOL_IPV6);
    if (!answer) {
        lookup.failure = call + ": " + errnoText(answer.error());
        if (answer.error() == ENOENT) {
            lookup.notRedirected = true;
            lookup.failure += " (no conntrack entry: the connection was not redirected)";
        }
        return lookup;
    }
    if (answer.value() == client) {
        // conntrack never saw the client's SYN (NOTRACK, say), but our own SYN-ACK created an
        // entry in OUTPUT whose ORIGINAL direction runs from us to the client.
        lookup.notRedirected = true;
        lookup.failure = call + " returned the client's own address " + client.toString() +
                         " (conntrack saw only our replies: the connection was not redirected)";
        return lookup;
    }
    lookup.destination = answer.value().unmapped();
    return lookup;
}

// conntrack does keep a NAT mapping for redirected UDP, but the socket API cannot ask for it:
// getsockopt(SO_ORIGINAL_DST) is implemented for TCP (and SCTP) only.
Fd RedirectBackend::openDatagramListener(const Endpoint& /*address*/,
                                         const ListenerOptions& /*options*/) {
    throw std::invalid_argument(
        "redirect mode cannot proxy UDP: getsockopt(SO_ORIGINAL_DST) answers ENOPROTOOPT for "
        "UDP sockets, although conntrack holds the NAT mapping; use --mode tproxy --udp");
}

std::optional<Endpoint> RedirectBackend::datagramDestination(const msghdr& /*message*/) {
    return std::nullopt;
}

}  // namespace tplab
