// The PROXY protocol headers, byte for byte against proxy-protocol.txt's layout.
#include "proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tplab {
namespace {

std::string hex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string text;
    for (unsigned char c : bytes) {
        text += digits[c >> 4];
        text += digits[c & 15];
    }
    return text;
}

const Endpoint kClient4 = Endpoint::parse("192.0.2.2:40000");
const Endpoint kServer4 = Endpoint::parse("198.51.100.2:80");
const Endpoint kClient6 = Endpoint::parse("[2001:db8:1::2]:40000");
const Endpoint kServer6 = Endpoint::parse("[2001:db8:2::2]:443");

TEST(ProxyProtocol, VersionOneIsOneLineOfText) {
    EXPECT_EQ(proxyProtocolHeader(ProxyProtocolVersion::V1, kClient4, kServer4),
              "PROXY TCP4 192.0.2.2 198.51.100.2 40000 80\r\n");
    EXPECT_EQ(proxyProtocolHeader(ProxyProtocolVersion::V1, kClient6, kServer6),
              "PROXY TCP6 2001:db8:1::2 2001:db8:2::2 40000 443\r\n");
}

TEST(ProxyProtocol, VersionTwoIsTheSignatureThenAddressesAndPorts) {
    // signature, 0x21 (v2, PROXY), 0x11 (TCP over IPv4), length 12, addresses, ports
    EXPECT_EQ(hex(proxyProtocolHeader(ProxyProtocolVersion::V2, kClient4, kServer4)),
              "0d0a0d0a000d0a515549540a"
              "21"
              "11"
              "000c"
              "c0000202"
              "c6336402"
              "9c40"
              "0050");
    std::string v6 = proxyProtocolHeader(ProxyProtocolVersion::V2, kClient6, kServer6);
    ASSERT_EQ(v6.size(), 16u + 36u);
    EXPECT_EQ(hex(v6.substr(12, 4)), "21210024");  // TCP over IPv6, 36 bytes follow
    EXPECT_EQ(hex(v6.substr(16, 16)), "20010db8000100000000000000000002");
    EXPECT_EQ(hex(v6.substr(48, 4)), "9c4001bb");
}

TEST(ProxyProtocol, AnIpv4ClientOnADualStackListenerIsWrittenAsIpv4) {
    auto mapped = Endpoint::parse("[::ffff:192.0.2.2]:40000");
    EXPECT_EQ(proxyProtocolHeader(ProxyProtocolVersion::V1, mapped, kServer4),
              "PROXY TCP4 192.0.2.2 198.51.100.2 40000 80\r\n");
}

TEST(ProxyProtocol, MixedFamiliesBecomeIpv6WithTheIpv4AddressMapped) {
    EXPECT_EQ(proxyProtocolHeader(ProxyProtocolVersion::V1, kClient4, kServer6),
              "PROXY TCP6 ::ffff:192.0.2.2 2001:db8:2::2 40000 443\r\n");
    std::string v2 = proxyProtocolHeader(ProxyProtocolVersion::V2, kClient4, kServer6);
    EXPECT_EQ(hex(v2.substr(13, 1)), "21");
    EXPECT_EQ(hex(v2.substr(16, 16)), "00000000000000000000ffffc0000202");
}

TEST(ProxyProtocol, OnlyTheTwoVersionsParse) {
    EXPECT_EQ(parseProxyProtocolVersion("v1"), ProxyProtocolVersion::V1);
    EXPECT_EQ(parseProxyProtocolVersion("v2"), ProxyProtocolVersion::V2);
    for (const char* bad : {"", "v3", "1", "V1", "v1 "}) {
        EXPECT_FALSE(parseProxyProtocolVersion(bad).has_value()) << bad;
    }
}

}  // namespace
}  // namespace tplab
