// The SOCKS5 parsers byte by byte: whole, in pieces, truncated, malformed, oversized.
#include <gtest/gtest.h>

#include <string>

#include "socks5_protocol.hpp"

namespace tplab {
namespace {

using Status = HandshakeStep::Status;

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) {
        out.push_back(static_cast<char>(v));
    }
    return out;
}

const std::string kGreetingNoAuth = bytes({0x05, 0x01, 0x00});
// The example: CONNECT 198.51.100.2:80.
const std::string kConnectIpv4 =
    bytes({0x05, 0x01, 0x00, 0x01, 0xc6, 0x33, 0x64, 0x02, 0x00, 0x50});

TEST(Socks5Server, NoAuthGreetingThenIpv4ConnectGivesTheDestination) {
    Socks5ServerHandshake server(std::nullopt);
    auto greeting = server.onClientBytes(kGreetingNoAuth);
    ASSERT_EQ(greeting.status, Status::Reply);
    EXPECT_EQ(greeting.consumed, 3u);
    EXPECT_EQ(greeting.reply, bytes({0x05, 0x00}));
    auto request = server.onClientBytes(kConnectIpv4);
    ASSERT_EQ(request.status, Status::Done);
    EXPECT_EQ(request.consumed, 10u);
    ASSERT_TRUE(request.request.address);
    EXPECT_EQ(request.request.address->toString(), "198.51.100.2:80");
}

TEST(Socks5Server, EveryTruncationOfTheRequestAsksForMore) {
    Socks5ServerHandshake server(std::nullopt);
    ASSERT_EQ(server.onClientBytes(kGreetingNoAuth).status, Status::Reply);
    for (std::size_t n = 0; n < kConnectIpv4.size(); ++n) {
        EXPECT_EQ(server.onClientBytes(kConnectIpv4.substr(0, n)).status, Status::NeedMore) << n;
    }
    for (std::size_t n = 0; n < kGreetingNoAuth.size(); ++n) {
        Socks5ServerHandshake fresh(std::nullopt);
        EXPECT_EQ(fresh.onClientBytes(kGreetingNoAuth.substr(0, n)).status, Status::NeedMore);
    }
}

TEST(Socks5Server, BytesAfterTheRequestAreNotConsumed) {
    Socks5ServerHandshake server(std::nullopt);
    ASSERT_EQ(server.onClientBytes(kGreetingNoAuth).status, Status::Reply);
    auto request = server.onClientBytes(kConnectIpv4 + "GET / HTTP/1.1\r\n");
    ASSERT_EQ(request.status, Status::Done);
    EXPECT_EQ(request.consumed, kConnectIpv4.size());
}

TEST(Socks5Server, Ipv6AndDomainRequestsAreParsed) {
    Socks5ServerHandshake v6(std::nullopt);
    ASSERT_EQ(v6.onClientBytes(kGreetingNoAuth).status, Status::Reply);
    std::string request = bytes({0x05, 0x01, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 2,    0,
                                 0,    0,    0,    0,    0,    0,    0,    0,    2, 0x01, 0xbb});
    auto step = v6.onClientBytes(request);
    ASSERT_EQ(step.status, Status::Done);
    EXPECT_EQ(step.request.address->toString(), "[2001:db8:2::2]:443");

    Socks5ServerHandshake name(std::nullopt);
    ASSERT_EQ(name.onClientBytes(kGreetingNoAuth).status, Status::Reply);
    std::string host = "server.test";
    std::string domain =
        bytes({0x05, 0x01, 0x00, 0x03, static_cast<int>(host.size())}) + host + bytes({0x1f, 0x90});
    step = name.onClientBytes(domain);
    ASSERT_EQ(step.status, Status::Done);
    EXPECT_FALSE(step.request.address);
    EXPECT_EQ(step.request.host, "server.test");
    EXPECT_EQ(step.request.port, 8080);
}

TEST(Socks5Server, WrongVersionInTheGreetingFailsWithoutAReply) {
    Socks5ServerHandshake server(std::nullopt);
    auto step = server.onClientBytes(bytes({0x04, 0x01, 0x00, 0x50}));  // SOCKS4
    EXPECT_EQ(step.status, Status::Fail);
    EXPECT_TRUE(step.reply.empty());
    EXPECT_NE(step.failure.find("version 0x04"), std::string::npos) << step.failure;
}

TEST(Socks5Server, GreetingWithoutNoAuthGetsNoAcceptableMethods) {
    Socks5ServerHandshake server(std::nullopt);
    auto step = server.onClientBytes(bytes({0x05, 0x01, 0x02}));
    EXPECT_EQ(step.status, Status::Fail);
    EXPECT_EQ(step.reply, bytes({0x05, 0xff}));
    Socks5ServerHandshake empty(std::nullopt);
    EXPECT_EQ(empty.onClientBytes(bytes({0x05, 0x00})).reply, bytes({0x05, 0xff}));
}

TEST(Socks5Server, UnsupportedCommandAndAddressTypeGetTheirReplyCodes) {
    Socks5ServerHandshake bind(std::nullopt);
    ASSERT_EQ(bind.onClientBytes(kGreetingNoAuth).status, Status::Reply);
    auto step = bind.onClientBytes(bytes({0x05, 0x02, 0x00, 0x01, 1, 2, 3, 4, 0, 80}));
    EXPECT_EQ(step.status, Status::Fail);
    ASSERT_GE(step.reply.size(), 2u);
    EXPECT_EQ(step.reply[1], 0x07);
    EXPECT_NE(step.failure.find("BIND"), std::string::npos);

    Socks5ServerHandshake atyp(std::nullopt);
    ASSERT_EQ(atyp.onClientBytes(kGreetingNoAuth).status, Status::Reply);
    step = atyp.onClientBytes(bytes({0x05, 0x01, 0x00, 0x09, 1, 2, 3, 4, 0, 80}));
    EXPECT_EQ(step.status, Status::Fail);
    EXPECT_EQ(step.reply[1], 0x08);
}

TEST(Socks5Server, MalformedRequestsFail) {
    for (const std::string& bad : {bytes({0x04, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80}),
                                   bytes({0x05, 0x01, 0x01, 0x01, 1, 2, 3, 4, 0, 80}),
                                   bytes({0x05, 0x01, 0x00, 0x03, 0x00, 0, 80})}) {
        Socks5ServerHandshake server(std::nullopt);
        ASSERT_EQ(server.onClientBytes(kGreetingNoAuth).status, Status::Reply);
        auto step = server.onClientBytes(bad);
        EXPECT_EQ(step.status, Status::Fail);
        EXPECT_EQ(step.reply.size(), 10u);
        EXPECT_NE(step.reply[1], 0x00);
    }
}

TEST(Socks5Server, UsernamePasswordIsRequiredAndChecked) {
    Socks5Credentials credentials{"alice", "s3cret"};
    Socks5ServerHandshake noAuthOnly(credentials);
    EXPECT_EQ(noAuthOnly.onClientBytes(kGreetingNoAuth).reply, bytes({0x05, 0xff}));

    auto authRequest = [](const std::string& user, const std::string& password) {
        return bytes({0x01, static_cast<int>(user.size())}) + user +
               bytes({static_cast<int>(password.size())}) + password;
    };
    Socks5ServerHandshake good(credentials);
    EXPECT_EQ(good.onClientBytes(bytes({0x05, 0x02, 0x00, 0x02})).reply, bytes({0x05, 0x02}));
    std::string request = authRequest("alice", "s3cret");
    for (std::size_t n = 0; n < request.size(); ++n) {
        EXPECT_EQ(good.onClientBytes(request.substr(0, n)).status, Status::NeedMore) << n;
    }
    auto step = good.onClientBytes(request);
    ASSERT_EQ(step.status, Status::Reply);
    EXPECT_EQ(step.reply, bytes({0x01, 0x00}));
    EXPECT_EQ(good.onClientBytes(kConnectIpv4).status, Status::Done);

    for (const auto& [user, password] : {std::pair{"alice", "wrong"}, std::pair{"bob", "s3cret"},
                                         std::pair{"alice", "s3cret!"}, std::pair{"", ""}}) {
        Socks5ServerHandshake bad(credentials);
        ASSERT_EQ(bad.onClientBytes(bytes({0x05, 0x01, 0x02})).status, Status::Reply);
        step = bad.onClientBytes(authRequest(user, password));
        EXPECT_EQ(step.status, Status::Fail) << user << ":" << password;
        EXPECT_EQ(step.reply, bytes({0x01, 0x01}));
    }
}

TEST(Socks5Server, TheLongestMessagesFitTheLimit) {
    Socks5ServerHandshake server(Socks5Credentials{std::string(255, 'u'), std::string(255, 'p')});
    std::string greeting = bytes({0x05, 0xff}) + std::string(255, '\x02');
    ASSERT_LE(greeting.size(), server.maxMessage());
    ASSERT_EQ(server.onClientBytes(greeting).status, Status::Reply);
    std::string auth =
        bytes({0x01, 0xff}) + std::string(255, 'u') + bytes({0xff}) + std::string(255, 'p');
    ASSERT_LE(auth.size(), server.maxMessage());
    EXPECT_EQ(server.onClientBytes(auth).status, Status::Reply);
}

TEST(Socks5Server, ConnectRepliesCarryTheCodeAndTheBoundAddress) {
    Socks5ServerHandshake server(std::nullopt);
    EXPECT_EQ(server.connectReply(ConnectOutcome::Succeeded, Endpoint::parse("198.51.100.1:40000")),
              bytes({0x05, 0x00, 0x00, 0x01, 198, 51, 100, 1, 0x9c, 0x40}));
    EXPECT_EQ(server.connectReply(ConnectOutcome::Refused, Endpoint())[1], 0x05);
    EXPECT_EQ(server.connectReply(ConnectOutcome::NetworkUnreachable, Endpoint())[1], 0x03);
    EXPECT_EQ(server.connectReply(ConnectOutcome::HostUnreachable, Endpoint())[1], 0x04);
    EXPECT_EQ(server.connectReply(ConnectOutcome::TimedOut, Endpoint())[1], 0x06);
    EXPECT_EQ(server.connectReply(ConnectOutcome::NotAllowed, Endpoint())[1], 0x02);
    EXPECT_EQ(
        server.connectReply(ConnectOutcome::Succeeded, Endpoint::parse("[2001:db8:2::1]:1")).size(),
        22u);
}

TEST(Socks5Client, AsksForNoAuthThenConnectsAndWaitsForTheWholeReply) {
    Socks5ClientHandshake client(Endpoint::parse("198.51.100.2:80"));
    EXPECT_EQ(client.greeting(), bytes({0x05, 0x01, 0x00}));
    EXPECT_EQ(client.onServerBytes(bytes({0x05})).status, Status::NeedMore);
    auto step = client.onServerBytes(bytes({0x05, 0x00}));
    ASSERT_EQ(step.status, Status::Reply);
    EXPECT_EQ(step.reply, kConnectIpv4);
    std::string reply = bytes({0x05, 0x00, 0x00, 0x01, 198, 51, 100, 3, 0x9c, 0x40});
    for (std::size_t n = 0; n < reply.size(); ++n) {
        EXPECT_EQ(client.onServerBytes(reply.substr(0, n)).status, Status::NeedMore) << n;
    }
    step = client.onServerBytes(reply + "SSH-2.0-server first\r\n");
    ASSERT_EQ(step.status, Status::Done);
    EXPECT_EQ(step.consumed, reply.size());
}

TEST(Socks5Client, AnErrorReplyNamesTheCode) {
    Socks5ClientHandshake client(Endpoint::parse("198.51.100.2:81"));
    ASSERT_EQ(client.onServerBytes(bytes({0x05, 0x00})).status, Status::Reply);
    auto step = client.onServerBytes(bytes({0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(step.status, Status::Fail);
    EXPECT_NE(step.failure.find("connection refused"), std::string::npos) << step.failure;
    Socks5ClientHandshake wantsAuth(Endpoint::parse("198.51.100.2:81"));
    EXPECT_EQ(wantsAuth.onServerBytes(bytes({0x05, 0xff})).status, Status::Fail);
}

TEST(Socks5Url, AcceptsAnAddressAndPortOnly) {
    EXPECT_EQ(parseSocks5Url("socks5://198.51.100.3:1080").toString(), "198.51.100.3:1080");
    EXPECT_EQ(parseSocks5Url("socks5://[2001:db8::3]:1080").toString(), "[2001:db8::3]:1080");
    EXPECT_THROW(parseSocks5Url("http://198.51.100.3:1080"), std::invalid_argument);
    EXPECT_THROW(parseSocks5Url("socks5://proxy.example:1080"), std::invalid_argument);
    EXPECT_THROW(parseSocks5Url("socks5://198.51.100.3"), std::invalid_argument);
    EXPECT_THROW(parseSocks5Url("socks5://u:p@198.51.100.3:1080"), std::invalid_argument);
}

}  // namespace
}  // namespace tplab
