// sk-lookup's --prefix: what the BPF program's prefix tries are filled with, and the values
// refused before anything is loaded.
#include "sk_lookup_prefix.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <stdexcept>
#include <string>

namespace tplab {
namespace {

std::string refusal(const std::string& text) {
    try {
        parseSteeredPrefix(text);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "accepted";
}

TEST(SkLookupPrefix, ParsesAnIpv4PrefixIntoNetworkOrderBytes) {
    auto prefix = parseSteeredPrefix("198.51.100.0/24");
    EXPECT_EQ(prefix.family, AF_INET);
    EXPECT_EQ(prefix.length, 24u);
    EXPECT_EQ(prefix.address[0], 198);
    EXPECT_EQ(prefix.address[1], 51);
    EXPECT_EQ(prefix.address[2], 100);
    EXPECT_EQ(prefix.address[3], 0);
    EXPECT_EQ(prefix.text(), "198.51.100.0/24");
}

TEST(SkLookupPrefix, ParsesAnIpv6PrefixIntoNetworkOrderBytes) {
    auto prefix = parseSteeredPrefix("2001:db8:2::/64");
    EXPECT_EQ(prefix.family, AF_INET6);
    EXPECT_EQ(prefix.length, 64u);
    EXPECT_EQ(prefix.address[0], 0x20);
    EXPECT_EQ(prefix.address[1], 0x01);
    EXPECT_EQ(prefix.address[2], 0x0d);
    EXPECT_EQ(prefix.address[3], 0xb8);
    EXPECT_EQ(prefix.address[5], 0x02);
    EXPECT_EQ(prefix.text(), "2001:db8:2::/64");
}

TEST(SkLookupPrefix, AcceptsHostRoutesAndTheDefaultRoutes) {
    EXPECT_EQ(parseSteeredPrefix("192.0.2.1/32").text(), "192.0.2.1/32");
    EXPECT_EQ(parseSteeredPrefix("2001:db8:1::1/128").text(), "2001:db8:1::1/128");
    EXPECT_EQ(parseSteeredPrefix("0.0.0.0/0").length, 0u);
    EXPECT_EQ(parseSteeredPrefix("::/0").family, AF_INET6);
}

TEST(SkLookupPrefix, EveryDestinationIsTheDefaultRouteOfEachFamily) {
    auto all = everyDestination();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0], parseSteeredPrefix("0.0.0.0/0"));
    EXPECT_EQ(all[1], parseSteeredPrefix("::/0"));
    EXPECT_EQ(describePrefixes(all), "0.0.0.0/0, ::/0");
}

TEST(SkLookupPrefix, RefusesAnAddressWithoutALength) {
    EXPECT_NE(refusal("198.51.100.2").find("has no length"), std::string::npos);
    EXPECT_NE(refusal("").find("has no length"), std::string::npos);
}

TEST(SkLookupPrefix, RefusesLengthsBeyondTheFamilysBits) {
    EXPECT_NE(refusal("198.51.100.0/33").find("0-32"), std::string::npos);
    EXPECT_NE(refusal("2001:db8::/129").find("0-128"), std::string::npos);
    EXPECT_NE(refusal("198.51.100.0/").find("0-32"), std::string::npos);
    EXPECT_NE(refusal("198.51.100.0/-1").find("0-32"), std::string::npos);
    EXPECT_NE(refusal("198.51.100.0/0024").find("0-32"), std::string::npos);
    EXPECT_NE(refusal("198.51.100.0/24 ").find("0-32"), std::string::npos);
}

TEST(SkLookupPrefix, RefusesWhatIsNotAnAddress) {
    EXPECT_NE(refusal("999.51.100.0/24").find("is not an IPv4 address"), std::string::npos);
    EXPECT_NE(refusal("2001:db8:::/32").find("is not an IPv6 address"), std::string::npos);
    EXPECT_NE(refusal("example.com/24").find("is not an IPv4 address"), std::string::npos);
    EXPECT_NE(refusal("fe80::%eth0/64").find("is not an IPv6 address"), std::string::npos);
}

TEST(SkLookupPrefix, RefusesHostBitsAndNamesTheNetwork) {
    EXPECT_EQ(refusal("198.51.100.2/24"),
              "'198.51.100.2/24' has host bits set after /24 (the network is 198.51.100.0/24)");
    EXPECT_NE(refusal("2001:db8::1/32").find("the network is 2001:db8::/32"), std::string::npos);
    EXPECT_NE(refusal("192.0.2.129/25").find("the network is 192.0.2.128/25"), std::string::npos);
}

TEST(SkLookupPrefix, RefusesIpv4MappedPrefixesThatNoPacketCarries) {
    EXPECT_NE(refusal("::ffff:198.51.100.0/120").find("IPv4-mapped"), std::string::npos);
    EXPECT_EQ(refusal("::/80"), "accepted") << "a prefix that merely contains them is fine";
}

TEST(SkLookupPrefix, ShowsControlCharactersAsQuestionMarks) {
    auto message = refusal("198.51.100.0\n/24");
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find("198.51.100.0?"), std::string::npos) << message;
}

}  // namespace
}  // namespace tplab
