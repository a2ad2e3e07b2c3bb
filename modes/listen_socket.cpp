// The listener recipe both modes share.
#include "listen_socket.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "result.hpp"

namespace tplab {
namespace {

std::string familyName(const Endpoint& address) {
    return address.isIpv6() ? "AF_INET6" : "AF_INET";
}

void require(Status status, const std::string& call) {
    if (!status) {
        throw setupError(status.error(), call);
    }
}

// socket, SO_REUSEADDR, IPV6_V6ONLY and, for TPROXY, IP(V6)_TRANSPARENT: what a stream and a
// datagram listener share before bind().
Fd openBoundSocket(SocketApi& api, const Endpoint& address, const ListenerOptions& options,
                   int type, bool transparent) {
    const char* typeName = type == SOCK_STREAM ? "SOCK_STREAM" : "SOCK_DGRAM";
    auto socket = api.openSocket(address.family(), type);
    if (!socket) {
        throw setupError(socket.error(), "socket(" + familyName(address) + ", " + typeName + ")");
    }
    Fd fd = std::move(socket.value());
    const std::string where = " on " + address.toString();
    require(api.setIntOption(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1),
            "setsockopt(SO_REUSEADDR)" + where);
    if (options.reusePort) {
        require(api.setIntOption(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1),
                "setsockopt(SO_REUSEPORT)" + where);
    }
    if (address.isIpv6()) {
        require(
            api.setIntOption(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, options.ipv6Only ? 1 : 0),
            "setsockopt(IPV6_V6ONLY, " + std::to_string(options.ipv6Only ? 1 : 0) + ")" + where);
    }
    if (transparent) {
        // Without it the kernel will not hand this socket traffic addressed to other hosts,
        // which is all TPROXY delivers. It must be set before bind().
        const bool v6 = address.isIpv6();
        Status status = v6 ? api.setIntOption(fd.get(), SOL_IPV6, IPV6_TRANSPARENT, 1)
                           : api.setIntOption(fd.get(), SOL_IP, IP_TRANSPARENT, 1);
        if (!status) {
            std::string call = std::string("setsockopt(") +
                               (v6 ? "IPV6_TRANSPARENT" : "IP_TRANSPARENT") + ", 1)" + where;
            if (status.error() == EPERM) {
                call += " (TPROXY mode needs CAP_NET_ADMIN: run as root or grant the capability)";
            }
            throw setupError(status.error(), call);
        }
    }
    return fd;
}

}  // namespace

Fd openListeningSocket(SocketApi& api, const Endpoint& address, const ListenerOptions& options,
                       bool transparent) {
    Fd fd = openBoundSocket(api, address, options, SOCK_STREAM, transparent);
    require(api.bindTo(fd.get(), address), "bind(" + address.toString() + ")");
    require(api.listenOn(fd.get(), options.backlog),
            "listen(" + address.toString() + ", " + std::to_string(options.backlog) + ")");
    return fd;
}

Fd openDatagramSocket(SocketApi& api, const Endpoint& address, const ListenerOptions& options) {
    Fd fd = openBoundSocket(api, address, options, SOCK_DGRAM, /*transparent=*/true);
    const std::string where = " on " + address.toString();
    // IPv4 datagrams (also those reaching a dual-stack socket) report IP_ORIGDSTADDR.
    if (address.isIpv4() || !options.ipv6Only) {
        require(api.setIntOption(fd.get(), SOL_IP, IP_RECVORIGDSTADDR, 1),
                "setsockopt(IP_RECVORIGDSTADDR, 1)" + where);
    }
    if (address.isIpv6()) {
        require(api.setIntOption(fd.get(), SOL_IPV6, IPV6_RECVORIGDSTADDR, 1),
                "setsockopt(IPV6_RECVORIGDSTADDR, 1)" + where);
    }
    require(api.bindTo(fd.get(), address), "bind(" + address.toString() + ", SOCK_DGRAM)");
    return fd;
}

}  // namespace tplab
