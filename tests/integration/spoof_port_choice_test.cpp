// bindToClientAddressAvoiding: the spoofed upstream's port chosen by tplab, never one the caller
// names. Needs CAP_NET_ADMIN (IP_TRANSPARENT); runs in a fresh network namespace of its own.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>

#include <set>
#include <thread>

#include "endpoint.hpp"
#include "socket_ops.hpp"
#include "spoof_source.hpp"

namespace tplab {
namespace {

constexpr std::pair<std::uint16_t, std::uint16_t> kRange{40000, 40009};

// Runs `body` on a thread that has unshared its network namespace, so the foreign addresses
// it binds exist nowhere else. Returns false when that is not allowed here.
template <typename Body>
bool inOwnNetworkNamespace(Body body) {
    bool allowed = false;
    std::thread([&] {
        if (::unshare(CLONE_NEWNET) != 0) {
            return;
        }
        allowed = true;
        body();
    }).join();
    return allowed;
}

Fd streamSocket(int family) {
    auto socket = sys::openSocket(family, SOCK_STREAM);
    EXPECT_TRUE(socket) << errnoText(socket.error());
    return std::move(socket.value());
}

TEST(SpoofPortChoice, NeverBindsAPortTheCallerAvoids) {
    Endpoint client = Endpoint::parse("192.0.2.2:51000");
    Endpoint server = Endpoint::parse("198.51.100.2:80");
    bool ran = inOwnNetworkNamespace([&] {
        std::set<std::uint16_t> chosen;
        for (int attempt = 0; attempt < 20; ++attempt) {
            Fd upstream = streamSocket(AF_INET);
            auto port = bindToClientAddressAvoiding(
                upstream.get(), client, server, [](std::uint16_t p) { return p != 40007; }, kRange);
            ASSERT_TRUE(port) << errnoText(port.error());
            EXPECT_EQ(port.value(), 40007);
            auto local = sys::localAddress(upstream.get());
            ASSERT_TRUE(local);
            EXPECT_EQ(local.value().toString(), "192.0.2.2:40007");
        }
    });
    if (!ran) {
        GTEST_SKIP() << "needs CAP_SYS_ADMIN to unshare a network namespace";
    }
}

TEST(SpoofPortChoice, SharesAPortWithAnotherUpstreamOfTheSameClient) {
    // Two upstreams of one client toward different servers may use the same source port.
    Endpoint client = Endpoint::parse("[2001:db8:1::2]:51000");
    bool ran = inOwnNetworkNamespace([&] {
        auto only = [](std::uint16_t p) { return p != 40003; };
        Fd first = streamSocket(AF_INET6);
        Fd second = streamSocket(AF_INET6);
        auto a = bindToClientAddressAvoiding(first.get(), client,
                                             Endpoint::parse("[2001:db8:2::2]:80"), only, kRange);
        auto b = bindToClientAddressAvoiding(second.get(), client,
                                             Endpoint::parse("[2001:db8:2::3]:80"), only, kRange);
        ASSERT_TRUE(a) << errnoText(a.error());
        ASSERT_TRUE(b) << errnoText(b.error());
        EXPECT_EQ(a.value(), b.value());
    });
    if (!ran) {
        GTEST_SKIP() << "needs CAP_SYS_ADMIN to unshare a network namespace";
    }
}

TEST(SpoofPortChoice, SaysAddressNotAvailableWhenEveryPortIsAvoided) {
    bool ran = inOwnNetworkNamespace([&] {
        Fd upstream = streamSocket(AF_INET);
        auto port = bindToClientAddressAvoiding(
            upstream.get(), Endpoint::parse("192.0.2.2:51000"), Endpoint::parse("198.51.100.2:80"),
            [](std::uint16_t) { return true; }, kRange);
        ASSERT_FALSE(port);
        EXPECT_EQ(port.error(), EADDRNOTAVAIL);
    });
    if (!ran) {
        GTEST_SKIP() << "needs CAP_SYS_ADMIN to unshare a network namespace";
    }
}

TEST(SpoofPortChoice, RefusesAnIpv4ClientTowardAnIpv6Server) {
    bool ran = inOwnNetworkNamespace([&] {
        Fd upstream = streamSocket(AF_INET6);
        auto port = bindToClientAddressAvoiding(upstream.get(), Endpoint::parse("192.0.2.2:1"),
                                                Endpoint::parse("[2001:db8:2::2]:80"), {}, kRange);
        ASSERT_FALSE(port);
        EXPECT_EQ(port.error(), EAFNOSUPPORT);
    });
    if (!ran) {
        GTEST_SKIP() << "needs CAP_SYS_ADMIN to unshare a network namespace";
    }
}

}  // namespace
}  // namespace tplab
