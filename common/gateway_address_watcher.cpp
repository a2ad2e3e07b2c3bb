// Plain NETLINK_ROUTE: a dump on a blocking socket of its own, and a non-blocking socket that
// only tells that something changed. Every change reads the whole table again: addresses change
// rarely, and a fresh dump cannot drift (a missed or reordered message, ENOBUFS on overflow).
#include "gateway_address_watcher.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "log.hpp"

namespace tplab {
namespace {

Endpoint endpointOf(int family, const void* data, std::size_t size) {
    if (family == AF_INET && size >= 4) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        std::memcpy(&in.sin_addr, data, 4);
        return Endpoint::fromSockaddr(reinterpret_cast<const sockaddr*>(&in), sizeof(in));
    }
    if (family == AF_INET6 && size >= 16) {
        sockaddr_in6 in6{};
        in6.sin6_family = AF_INET6;
        std::memcpy(&in6.sin6_addr, data, 16);
        return Endpoint::fromSockaddr(reinterpret_cast<const sockaddr*>(&in6), sizeof(in6));
    }
    return Endpoint();
}

// The addresses one RTM_NEWADDR message holds: IPv4's IFA_LOCAL (IFA_ADDRESS is the peer on a
// point-to-point link) and IFA_BROADCAST; IPv6's IFA_LOCAL or IFA_ADDRESS.
void collect(const nlmsghdr* header, std::vector<GatewayAddresses::Address>& out) {
    const auto* message = static_cast<const ifaddrmsg*>(NLMSG_DATA(header));
    int length = static_cast<int>(IFA_PAYLOAD(header));
    const rtattr* local = nullptr;
    const rtattr* address = nullptr;
    for (const rtattr* attribute = IFA_RTA(message); RTA_OK(attribute, length);
         attribute = RTA_NEXT(attribute, length)) {
        if (attribute->rta_type == IFA_LOCAL) {
            local = attribute;
        } else if (attribute->rta_type == IFA_ADDRESS) {
            address = attribute;
        } else if (attribute->rta_type == IFA_BROADCAST) {
            Endpoint broadcast =
                endpointOf(message->ifa_family, RTA_DATA(attribute), RTA_PAYLOAD(attribute));
            if (broadcast.family() != AF_UNSPEC) {
                out.push_back(GatewayAddresses::addressOf(broadcast));
            }
        }
    }
    const rtattr* own = local != nullptr ? local : address;
    if (own != nullptr) {
        Endpoint endpoint = endpointOf(message->ifa_family, RTA_DATA(own), RTA_PAYLOAD(own));
        if (endpoint.family() != AF_UNSPEC) {
            out.push_back(GatewayAddresses::addressOf(endpoint));
        }
    }
}

}  // namespace

Result<std::vector<GatewayAddresses::Address>> readGatewayAddresses() {
    using Addresses = std::vector<GatewayAddresses::Address>;
    Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!fd) {
        return Result<Addresses>::failure(errno);
    }
    timeval timeout{2, 0};  // the kernel answers at once; a bound all the same
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    struct {
        nlmsghdr header;
        ifaddrmsg body;
    } request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
    request.header.nlmsg_type = RTM_GETADDR;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = 1;
    request.body.ifa_family = AF_UNSPEC;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd.get(), &request, request.header.nlmsg_len, 0,
                 reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
        return Result<Addresses>::failure(errno);
    }
    Addresses addresses;
    alignas(nlmsghdr) static thread_local char buffer[32768];
    for (;;) {
        ssize_t got = ::recv(fd.get(), buffer, sizeof(buffer), 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return Result<Addresses>::failure(errno);
        }
        int length = static_cast<int>(got);
        for (auto* header = reinterpret_cast<const nlmsghdr*>(buffer); NLMSG_OK(header, length);
             header = NLMSG_NEXT(header, length)) {
            if (header->nlmsg_flags & NLM_F_DUMP_INTR) {
                return Result<Addresses>::failure(EAGAIN);  // changed under the dump: again
            }
            if (header->nlmsg_type == NLMSG_DONE) {
                return addresses;
            }
            if (header->nlmsg_type == NLMSG_ERROR) {
                const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(header));
                return Result<Addresses>::failure(error->error < 0 ? -error->error : EPROTO);
            }
            if (header->nlmsg_type == RTM_NEWADDR) {
                collect(header, addresses);
            }
        }
    }
}

GatewayAddressWatcher::GatewayAddressWatcher(EventLoop& loop, GatewayAddresses& addresses)
    : loop_(loop), addresses_(addresses) {
    // Subscribed before the dump, so that no change falls between the two.
    notifications_ =
        Fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
    if (!notifications_) {
        throw setupError(errno, "socket(AF_NETLINK, NETLINK_ROUTE)");
    }
    sockaddr_nl groups{};
    groups.nl_family = AF_NETLINK;
    groups.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
    if (::bind(notifications_.get(), reinterpret_cast<sockaddr*>(&groups), sizeof(groups)) < 0) {
        throw setupError(errno, "bind(NETLINK_ROUTE, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)");
    }
    auto read = readGatewayAddresses();
    for (int attempt = 0; !read && read.error() == EAGAIN && attempt < 5; ++attempt) {
        read = readGatewayAddresses();
    }
    if (!read) {
        throw setupError(read.error(), "netlink RTM_GETADDR dump (the gateway's own addresses)");
    }
    addresses_.replaceAll(std::move(read.value()));
    if (auto added = loop_.add(notifications_.get(), EPOLLIN, this); !added) {
        throw setupError(added.error(), "epoll_ctl(EPOLL_CTL_ADD, netlink address watcher)");
    }
}

GatewayAddressWatcher::~GatewayAddressWatcher() {
    loop_.remove(notifications_.get());
}

void GatewayAddressWatcher::onEvents(std::uint32_t /*events*/) {
    // What changed does not matter: drain the announcements (or the ENOBUFS of an overflow),
    // then read the whole table.
    char sink[8192];
    for (;;) {
        ssize_t got = ::recv(notifications_.get(), sink, sizeof(sink), 0);
        if (got < 0 && errno != ENOBUFS && errno != EINTR) {
            break;  // EAGAIN: drained
        }
    }
    auto read = readGatewayAddresses();
    for (int attempt = 0; !read && read.error() == EAGAIN && attempt < 5; ++attempt) {
        read = readGatewayAddresses();
    }
    if (!read) {
        log::warn("netlink RTM_GETADDR dump: " + errnoText(read.error()) +
                  "; keeping the gateway addresses known before");
        return;
    }
    const std::size_t before = addresses_.size();
    addresses_.replaceAll(std::move(read.value()));
    log::debug("gateway addresses changed: " + std::to_string(before) + " -> " +
               std::to_string(addresses_.size()) + " (denied as destinations)");
}

}  // namespace tplab
