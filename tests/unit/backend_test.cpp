// Each backend's failure paths, through a fake syscall layer: no root, no kernel state.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "make_backend.hpp"
#include "redirect_backend.hpp"
#include "tproxy_backend.hpp"

namespace tplab {
namespace {

// Records every option set and fails the calls a test tells it to.
class FakeSocketApi : public SocketApi {
  public:
    Result<Fd> openSocket(int family, int /*type*/) override {
        families.push_back(family);
        return Fd();  // an invalid fd: nothing real is opened
    }
    Status setIntOption(int /*fd*/, int level, int name, int value) override {
        options.emplace_back(level, name, value);
        auto failure = failOption.find({level, name});
        return failure == failOption.end() ? Status() : Status::failure(failure->second);
    }
    Status bindTo(int /*fd*/, const Endpoint& address) override {
        bound.push_back(address);
        return bindError ? Status::failure(bindError) : Status();
    }
    Status listenOn(int /*fd*/, int /*backlog*/) override { return Status(); }
    Result<Endpoint> originalDestination(int /*fd*/, int level) override {
        askedLevels.push_back(level);
        if (originalDstError) {
            return Result<Endpoint>::failure(originalDstError);
        }
        return originalDst;
    }

    bool wasSet(int level, int name, int value) const {
        for (const auto& [l, n, v] : options) {
            if (l == level && n == name && v == value) {
                return true;
            }
        }
        return false;
    }

    std::vector<int> families;
    std::vector<std::tuple<int, int, int>> options;
    std::map<std::pair<int, int>, int> failOption;
    std::vector<Endpoint> bound;
    int bindError = 0;
    std::vector<int> askedLevels;
    Endpoint originalDst;
    int originalDstError = 0;
};

std::string setupMessage(Backend& backend, const std::string& address) {
    try {
        backend.openListener(Endpoint::parse(address), ListenerOptions{});
    } catch (const std::system_error& e) {
        return e.what();
    }
    return "";
}

TEST(RedirectBackend, AsksConntrackWithTheIpv4CallForAnIpv4Client) {
    FakeSocketApi api;
    api.originalDst = Endpoint::parse("198.51.100.2:80");
    RedirectBackend backend(api);
    auto lookup = backend.recoverDestination(5, Endpoint::parse("192.0.2.2:4000"),
                                             Endpoint::parse("192.0.2.1:15001"));
    ASSERT_TRUE(lookup.destination.has_value());
    EXPECT_EQ(lookup.destination->toString(), "198.51.100.2:80");
    EXPECT_EQ(lookup.method, "SO_ORIGINAL_DST");
    EXPECT_EQ(api.askedLevels, std::vector<int>{SOL_IP});
}

TEST(RedirectBackend, AsksWithTheIpv4CallForAnIpv4MappedClientOnADualStackListener) {
    FakeSocketApi api;
    api.originalDst = Endpoint::parse("198.51.100.2:80");
    RedirectBackend backend(api);
    auto lookup = backend.recoverDestination(5, Endpoint::parse("[::ffff:192.0.2.2]:4000"),
                                             Endpoint::parse("[::ffff:192.0.2.1]:15001"));
    EXPECT_EQ(api.askedLevels, std::vector<int>{SOL_IP});
    EXPECT_EQ(lookup.method, "SO_ORIGINAL_DST");
    ASSERT_TRUE(lookup.destination.has_value());
    EXPECT_TRUE(lookup.destination->isIpv4());
}

TEST(RedirectBackend, AsksWithTheIpv6CallForAnIpv6Client) {
    FakeSocketApi api;
    api.originalDst = Endpoint::parse("[2001:db8:2::2]:80");
    RedirectBackend backend(api);
    auto lookup = backend.recoverDestination(5, Endpoint::parse("[2001:db8:1::2]:4000"),
                                             Endpoint::parse("[2001:db8:1::1]:15001"));
    EXPECT_EQ(api.askedLevels, std::vector<int>{SOL_IPV6});
    EXPECT_EQ(lookup.method, "IP6T_SO_ORIGINAL_DST");
    EXPECT_EQ(lookup.destination->toString(), "[2001:db8:2::2]:80");
}

TEST(RedirectBackend, NoConntrackEntryMeansNotRedirected) {
    FakeSocketApi api;
    api.originalDstError = ENOENT;
    RedirectBackend backend(api);
    auto lookup = backend.recoverDestination(7, Endpoint::parse("192.0.2.2:4000"),
                                             Endpoint::parse("192.0.2.1:15001"));
    EXPECT_FALSE(lookup.destination.has_value());
    EXPECT_TRUE(lookup.notRedirected);
    EXPECT_NE(lookup.failure.find("getsockopt(SOL_IP, SO_ORIGINAL_DST, fd 7)"), std::string::npos)
        << lookup.failure;
    EXPECT_NE(lookup.failure.find("not redirected"), std::string::npos) << lookup.failure;
}

TEST(RedirectBackend, AnAnswerNamingTheClientItselfMeansNotRedirected) {
    FakeSocketApi api;
    api.originalDst = Endpoint::parse("192.0.2.2:4000");  // the tuple our SYN-ACK created
    RedirectBackend backend(api);
    auto lookup = backend.recoverDestination(7, Endpoint::parse("[::ffff:192.0.2.2]:4000"),
                                             Endpoint::parse("[::ffff:192.0.2.1]:15001"));
    EXPECT_FALSE(lookup.destination.has_value());
    EXPECT_TRUE(lookup.notRedirected);
    EXPECT_NE(lookup.failure.find("client's own address"), std::string::npos) << lookup.failure;
}

TEST(RedirectBackend, OtherLookupErrorsAreNotMistakenForNotRedirected) {
    FakeSocketApi api;
    api.originalDstError = ENOPROTOOPT;
    RedirectBackend backend(api);
    auto lookup = backend.recoverDestination(7, Endpoint::parse("192.0.2.2:4000"),
                                             Endpoint::parse("192.0.2.1:15001"));
    EXPECT_FALSE(lookup.destination.has_value());
    EXPECT_FALSE(lookup.notRedirected);
    EXPECT_FALSE(lookup.failure.empty());
}

TEST(RedirectBackend, ListenerIsNotTransparent) {
    FakeSocketApi api;
    RedirectBackend backend(api);
    backend.openListener(Endpoint::parse("0.0.0.0:15001"), ListenerOptions{});
    EXPECT_TRUE(api.wasSet(SOL_SOCKET, SO_REUSEADDR, 1));
    EXPECT_FALSE(api.wasSet(SOL_IP, IP_TRANSPARENT, 1));
    ASSERT_EQ(api.bound.size(), 1u);
    EXPECT_EQ(api.bound[0].toString(), "0.0.0.0:15001");
}

TEST(RedirectBackend, BindFailureNamesTheCallAndTheAddress) {
    FakeSocketApi api;
    api.bindError = EADDRINUSE;
    RedirectBackend backend(api);
    auto message = setupMessage(backend, "0.0.0.0:15001");
    EXPECT_NE(message.find("bind(0.0.0.0:15001)"), std::string::npos) << message;
    EXPECT_NE(message.find("Address already in use"), std::string::npos) << message;
}

TEST(TproxyBackend, SetsIpTransparentBeforeBind) {
    FakeSocketApi api;
    TproxyBackend backend(api);
    backend.openListener(Endpoint::parse("0.0.0.0:15002"), ListenerOptions{});
    EXPECT_TRUE(api.wasSet(SOL_IP, IP_TRANSPARENT, 1));
    EXPECT_EQ(api.bound.size(), 1u);
}

TEST(TproxyBackend, SetsIpv6TransparentOnAnIpv6Listener) {
    FakeSocketApi api;
    TproxyBackend backend(api);
    ListenerOptions options;
    options.ipv6Only = true;
    backend.openListener(Endpoint::parse("[::]:15002"), options);
    EXPECT_TRUE(api.wasSet(SOL_IPV6, IPV6_TRANSPARENT, 1));
    EXPECT_TRUE(api.wasSet(IPPROTO_IPV6, IPV6_V6ONLY, 1));
}

TEST(TproxyBackend, PermissionDeniedSaysTproxyNeedsCapNetAdmin) {
    FakeSocketApi api;
    api.failOption[{SOL_IP, IP_TRANSPARENT}] = EPERM;
    TproxyBackend backend(api);
    auto message = setupMessage(backend, "0.0.0.0:15002");
    EXPECT_NE(message.find("setsockopt(IP_TRANSPARENT, 1)"), std::string::npos) << message;
    EXPECT_NE(message.find("TPROXY mode needs CAP_NET_ADMIN"), std::string::npos) << message;
    EXPECT_TRUE(api.bound.empty()) << "must not bind after IP_TRANSPARENT failed";
}

TEST(TproxyBackend, DestinationIsTheAcceptedSocketsOwnAddress) {
    FakeSocketApi api;
    TproxyBackend backend(api);
    auto lookup = backend.recoverDestination(5, Endpoint::parse("192.0.2.2:4000"),
                                             Endpoint::parse("[::ffff:198.51.100.2]:80"));
    ASSERT_TRUE(lookup.destination.has_value());
    EXPECT_EQ(lookup.destination->toString(), "198.51.100.2:80");
    EXPECT_EQ(lookup.method, "getsockname");
    EXPECT_TRUE(api.askedLevels.empty()) << "TPROXY must never ask SO_ORIGINAL_DST";
}

// A recvmsg() result carrying one control message, as the kernel builds it.
struct ControlMessage {
    alignas(cmsghdr) char buffer[CMSG_SPACE(sizeof(sockaddr_in6))] = {};
    msghdr message{};
    template <typename Address>
    ControlMessage(int level, int type, const Address& address) {
        message.msg_control = buffer;
        message.msg_controllen = CMSG_SPACE(sizeof(Address));
        cmsghdr* c = CMSG_FIRSTHDR(&message);
        c->cmsg_level = level;
        c->cmsg_type = type;
        c->cmsg_len = CMSG_LEN(sizeof(Address));
        std::memcpy(CMSG_DATA(c), &address, sizeof(Address));
    }
};

TEST(TproxyBackend, ReadsTheIpv4OriginalDestinationOfADatagram) {
    auto server = Endpoint::parse("198.51.100.2:53");
    ControlMessage control(SOL_IP, IP_ORIGDSTADDR,
                           *reinterpret_cast<const sockaddr_in*>(server.sockaddrPtr()));
    FakeSocketApi api;
    TproxyBackend backend(api);
    auto destination = backend.datagramDestination(control.message);
    ASSERT_TRUE(destination.has_value());
    EXPECT_EQ(destination->toString(), "198.51.100.2:53");
}

TEST(TproxyBackend, ReadsTheIpv6OriginalDestinationOfADatagramToo) {
    auto server = Endpoint::parse("[2001:db8:2::2]:53");
    ControlMessage control(SOL_IPV6, IPV6_ORIGDSTADDR,
                           *reinterpret_cast<const sockaddr_in6*>(server.sockaddrPtr()));
    FakeSocketApi api;
    TproxyBackend backend(api);
    auto destination = backend.datagramDestination(control.message);
    ASSERT_TRUE(destination.has_value());
    EXPECT_EQ(destination->toString(), "[2001:db8:2::2]:53");
}

TEST(TproxyBackend, DatagramWithoutTheControlMessageHasNoDestination) {
    msghdr empty{};
    FakeSocketApi api;
    TproxyBackend backend(api);
    EXPECT_FALSE(backend.datagramDestination(empty).has_value());
}

TEST(TproxyBackend, DatagramListenerAsksForOriginalDestinationsOfBothFamilies) {
    FakeSocketApi api;
    TproxyBackend backend(api);
    backend.openDatagramListener(Endpoint::parse("[::]:15002"), ListenerOptions{});
    EXPECT_EQ(api.families, std::vector<int>{AF_INET6});
    EXPECT_TRUE(api.wasSet(SOL_IPV6, IPV6_TRANSPARENT, 1));
    EXPECT_TRUE(api.wasSet(SOL_IPV6, IPV6_RECVORIGDSTADDR, 1));
    EXPECT_TRUE(api.wasSet(SOL_IP, IP_RECVORIGDSTADDR, 1))
        << "IPv4 datagrams on a dual-stack socket";
}

TEST(RedirectBackend, RefusesUdpAndSaysWhy) {
    FakeSocketApi api;
    RedirectBackend backend(api);
    try {
        backend.openDatagramListener(Endpoint::parse("0.0.0.0:15001"), ListenerOptions{});
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("ENOPROTOOPT"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(api.families.empty()) << "nothing may be opened";
}

TEST(MakeBackend, KnowsBothModesAndNothingElse) {
    SocketApi api;
    for (auto mode : kModeNames) {
        auto backend = makeBackend(mode, api);
        ASSERT_NE(backend, nullptr) << mode;
        EXPECT_EQ(backend->name(), mode);
    }
    EXPECT_EQ(makeBackend("socks", api), nullptr);
}

}  // namespace
}  // namespace tplab
