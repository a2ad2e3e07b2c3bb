// The three calls that make an upstream socket look like the client.
#include "spoof_source.hpp"

#include <netinet/in.h>

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

}  // namespace tplab
