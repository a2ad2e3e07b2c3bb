// The interface between the relay core and an interception mode (modes/).
// A backend differs from another exactly where the kernel differs: how the listener is opened
// and how the client's original destination is recovered.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

#include "endpoint.hpp"
#include "fd.hpp"

namespace tplab {

struct ListenerOptions {
    // For an IPv6 wildcard listener: refuse IPv4-mapped peers because another listener takes IPv4.
    bool ipv6Only = false;
    // SO_REUSEPORT: each worker has its own listener on the same address; the kernel spreads
    // new connections (and UDP flows, by their 4-tuple) across them.
    bool reusePort = false;
    int backlog = 4096;
};

struct DestinationLookup {
    std::optional<Endpoint> destination;  // empty when the lookup failed
    std::string_view method;     // the call that answered: "SO_ORIGINAL_DST", "getsockname", ...
    bool notRedirected = false;  // the kernel says this connection was never intercepted
    std::string failure;         // the failed call, its arguments and errno text
};

class Backend {
  public:
    virtual ~Backend() = default;

    // The mode's name as events and logs show it.
    [[nodiscard]] virtual std::string_view name() const = 0;

    // Opens a non-blocking listening socket the way this mode needs; throws std::system_error
    // naming the failed call and its arguments.
    virtual Fd openListener(const Endpoint& address, const ListenerOptions& options) = 0;

    // Where did the client mean to go? `local` is getsockname() of the accepted socket.
    virtual DestinationLookup recoverDestination(int acceptedFd, const Endpoint& client,
                                                 const Endpoint& local) = 0;

    // UDP: opens a non-blocking datagram socket that learns each datagram's original
    // destination. Throws std::invalid_argument, with the reason, when the mode cannot proxy
    // UDP; std::system_error for a failed call.
    virtual Fd openDatagramListener(const Endpoint& address, const ListenerOptions& options) = 0;

    // The original destination of a datagram received on that socket (from recvmsg's control
    // messages), or nothing when the kernel did not say.
    virtual std::optional<Endpoint> datagramDestination(const msghdr& message) = 0;
};

}  // namespace tplab
