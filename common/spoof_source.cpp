// The three calls that make an upstream socket look like the client, and the explicit port
// choice that keeps it off the client's own flows.
#include "spoof_source.hpp"

#include <netinet/in.h>

#include <fstream>
#include <random>

#include "socket_ops.hpp"

namespace tplab {
namespace {

Status makeTransparent(int fd, const Endpoint& source, const Endpoint& destination) {
    if (source.family() != destination.family()) {
        return Status::failure(EAFNOSUPPORT);  // an IPv4 client cannot speak IPv6 as itself
    }
    return source.isIpv6() ? sys::setIntOption(fd, SOL_IPV6, IPV6_TRANSPARENT, 1)
                           : sys::setIntOption(fd, SOL_IP, IP_TRANSPARENT, 1);
}

}  // namespace

Status bindToClientAddress(int fd, const Endpoint& client, const Endpoint& destination) {
    Endpoint source = client.unmapped();
    if (Status transparent = makeTransparent(fd, source, destination); !transparent) {
        return transparent;
    }
    if (Status noPort = sys::setIntOption(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1); !noPort) {
        return noPort;
    }
    return sys::bindTo(fd, source.withPort(0));
}

std::pair<std::uint16_t, std::uint16_t> localPortRange() {
    std::ifstream file("/proc/sys/net/ipv4/ip_local_port_range");
    unsigned low = 0, high = 0;
    if (file >> low >> high && low > 0 && low <= high && high <= 65535) {
        return {static_cast<std::uint16_t>(low), static_cast<std::uint16_t>(high)};
    }
    return {32768, 60999};
}

Result<std::uint16_t> bindToClientAddressAvoiding(int fd, const Endpoint& client,
                                                  const Endpoint& destination,
                                                  const AvoidPort& avoid,
                                                  std::pair<std::uint16_t, std::uint16_t> range) {
    Endpoint source = client.unmapped();
    if (Status transparent = makeTransparent(fd, source, destination); !transparent) {
        return Result<std::uint16_t>::failure(transparent.error());
    }
    // Other upstreams of this client hold the same address and maybe the same port toward
    // other servers: SO_REUSEADDR lets bind() share it, connect() then checks the 4-tuple.
    if (Status reuse = sys::setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1); !reuse) {
        return Result<std::uint16_t>::failure(reuse.error());
    }
    static thread_local std::minstd_rand random{std::random_device{}()};
    const unsigned count = static_cast<unsigned>(range.second - range.first) + 1;
    const auto offset = static_cast<unsigned>(random() % count);
    for (unsigned i = 0; i < count; ++i) {
        auto port = static_cast<std::uint16_t>(range.first + (offset + i) % count);
        if (avoid && avoid(port)) {
            continue;
        }
        Status bound = sys::bindTo(fd, source.withPort(port));
        if (bound) {
            return port;
        }
        if (bound.error() != EADDRINUSE) {
            return Result<std::uint16_t>::failure(bound.error());
        }
    }
    return Result<std::uint16_t>::failure(EADDRNOTAVAIL);
}

}  // namespace tplab
