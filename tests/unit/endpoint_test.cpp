// Endpoint parsing, formatting and the IPv4-mapped conversions.
#include "endpoint.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace tplab {
namespace {

TEST(Endpoint, ParsesAndFormatsIpv4) {
    auto endpoint = Endpoint::parse("192.0.2.1:80");
    EXPECT_TRUE(endpoint.isIpv4());
    EXPECT_EQ(endpoint.port(), 80);
    EXPECT_EQ(endpoint.toString(), "192.0.2.1:80");
    EXPECT_FALSE(endpoint.isWildcard());
}

TEST(Endpoint, ParsesBracketedIpv6) {
    auto endpoint = Endpoint::parse("[2001:db8::1]:80");
    EXPECT_TRUE(endpoint.isIpv6());
    EXPECT_EQ(endpoint.port(), 80);
    EXPECT_EQ(endpoint.toString(), "[2001:db8::1]:80");
}

TEST(Endpoint, RecognisesWildcardsOfBothFamilies) {
    EXPECT_TRUE(Endpoint::parse("0.0.0.0:15001").isWildcard());
    EXPECT_TRUE(Endpoint::parse("[::]:15001").isWildcard());
    EXPECT_EQ(Endpoint::parse("[::]:15001").toString(), "[::]:15001");
}

TEST(Endpoint, RejectsPortZeroAndAbove65535WithTheReason) {
    EXPECT_THROW(Endpoint::parse("192.0.2.1:0"), std::invalid_argument);
    EXPECT_THROW(Endpoint::parse("192.0.2.1:65536"), std::invalid_argument);
    try {
        Endpoint::parse("192.0.2.1:70000");
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("outside 1-65535"), std::string::npos) << e.what();
    }
    EXPECT_EQ(Endpoint::parse("192.0.2.1:65535").port(), 65535);
}

TEST(Endpoint, RejectsMalformedAddresses) {
    for (const char* bad : {"", "192.0.2.1", "192.0.2.1:", "192.0.2.1:http", "300.1.1.1:80",
                            "2001:db8::1:80", "[2001:db8::1]", "[2001:db8::1]80", "[2001:db8::1:80",
                            "[192.0.2.1]:80", "example.org:80", "192.0.2.1:-1", "192.0.2.1:8 0"}) {
        EXPECT_THROW(Endpoint::parse(bad), std::invalid_argument) << "accepted '" << bad << "'";
    }
}

TEST(Endpoint, UnmapsIpv4MappedAddresses) {
    auto mapped = Endpoint::parse("[::ffff:192.0.2.2]:40000");
    EXPECT_TRUE(mapped.isV4Mapped());
    auto plain = mapped.unmapped();
    EXPECT_TRUE(plain.isIpv4());
    EXPECT_EQ(plain.toString(), "192.0.2.2:40000");
    EXPECT_EQ(mapped, plain);
    EXPECT_FALSE(Endpoint::parse("[2001:db8::2]:1").isV4Mapped());
}

TEST(Endpoint, ComparesAddressAndPort) {
    EXPECT_EQ(Endpoint::parse("192.0.2.1:80"), Endpoint::parse("192.0.2.1:80"));
    EXPECT_NE(Endpoint::parse("192.0.2.1:80"), Endpoint::parse("192.0.2.1:81"));
    EXPECT_NE(Endpoint::parse("192.0.2.1:80"), Endpoint::parse("192.0.2.2:80"));
    EXPECT_NE(Endpoint::parse("[2001:db8::1]:80"), Endpoint::parse("192.0.2.1:80"));
}

TEST(Endpoint, RoundTripsThroughSockaddr) {
    auto original = Endpoint::parse("[2001:db8:2::2]:443");
    auto copy = Endpoint::fromSockaddr(original.sockaddrPtr(), original.length());
    EXPECT_EQ(copy, original);
    EXPECT_EQ(copy.length(), sizeof(sockaddr_in6));
    EXPECT_EQ(Endpoint::parse("198.51.100.2:80").length(), sizeof(sockaddr_in));
}

TEST(Endpoint, KnowsLoopbackInEveryForm) {
    EXPECT_TRUE(Endpoint::parse("127.0.0.1:1").isLoopback());
    EXPECT_TRUE(Endpoint::parse("127.1.2.3:1").isLoopback());
    EXPECT_TRUE(Endpoint::parse("[::1]:1").isLoopback());
    EXPECT_TRUE(Endpoint::parse("[::ffff:127.0.0.1]:1").isLoopback());
    EXPECT_FALSE(Endpoint::parse("192.0.2.1:1").isLoopback());
}

}  // namespace
}  // namespace tplab
