// The access policy of tplab proxy: every default-denied range (and its IPv4-mapped and
// IPv4-compatible spellings), the precedence of --allow-dest and --deny-dest, --allow-client,
// and the gateway's own addresses.
#include "access_policy.hpp"

#include <gtest/gtest.h>

#include <string>

#include "gateway_address_watcher.hpp"

namespace tplab {
namespace {

Endpoint at(const std::string& address) {
    return Endpoint::parse(address.find(':') != std::string::npos ? "[" + address + "]:80"
                                                                  : address + ":80");
}

// The rule that refuses `address`, or "allowed".
std::string verdict(const AccessPolicy& policy, const std::string& address) {
    auto refusal = policy.checkDestination(at(address));
    return refusal ? refusal->rule : "allowed";
}

AccessPolicy explicitPolicy(AccessRules rules = {}, const GatewayAddresses* gateway = nullptr) {
    rules.explicitMode = true;
    return AccessPolicy(std::move(rules), gateway);
}

TEST(AccessPolicy, ExplicitModesDenyEveryHostLocalRangeByDefault) {
    auto policy = explicitPolicy();
    EXPECT_EQ(verdict(policy, "127.0.0.1"), "default deny: loopback 127.0.0.0/8");
    EXPECT_EQ(verdict(policy, "127.255.255.254"), "default deny: loopback 127.0.0.0/8");
    EXPECT_EQ(verdict(policy, "0.0.0.0"), "default deny: unspecified 0.0.0.0/8");
    EXPECT_EQ(verdict(policy, "169.254.169.254"), "default deny: link-local 169.254.0.0/16");
    EXPECT_EQ(verdict(policy, "224.0.0.1"), "default deny: multicast 224.0.0.0/4");
    EXPECT_EQ(verdict(policy, "239.255.255.250"), "default deny: multicast 224.0.0.0/4");
    EXPECT_EQ(verdict(policy, "255.255.255.255"), "default deny: broadcast 255.255.255.255/32");
    EXPECT_EQ(verdict(policy, "::1"), "default deny: loopback ::1/128");
    EXPECT_EQ(verdict(policy, "::"), "default deny: unspecified ::/128");
    EXPECT_EQ(verdict(policy, "fe80::1"), "default deny: link-local fe80::/10");
    EXPECT_EQ(verdict(policy, "ff02::1"), "default deny: multicast ff00::/8");
}

TEST(AccessPolicy, ExplicitModesAllowOrdinaryDestinations) {
    auto policy = explicitPolicy();
    EXPECT_EQ(verdict(policy, "198.51.100.2"), "allowed");
    EXPECT_EQ(verdict(policy, "10.1.2.3"), "allowed");
    EXPECT_EQ(verdict(policy, "2001:db8::2"), "allowed");
    EXPECT_EQ(verdict(policy, "128.0.0.1"), "allowed");    // just past 127.0.0.0/8
    EXPECT_EQ(verdict(policy, "169.255.0.1"), "allowed");  // just past 169.254.0.0/16
    EXPECT_EQ(verdict(policy, "febf::1"), "default deny: link-local fe80::/10");
    EXPECT_EQ(verdict(policy, "fec0::1"), "allowed") << "fe80::/10 ends at febf:ffff:...";
}

TEST(AccessPolicy, MappedAndCompatibleSpellingsAreDeniedAsTheIpv4TheyCarry) {
    auto policy = explicitPolicy();
    EXPECT_EQ(verdict(policy, "::ffff:127.0.0.1"), "default deny: loopback 127.0.0.0/8");
    EXPECT_EQ(verdict(policy, "::ffff:0.0.0.0"), "default deny: unspecified 0.0.0.0/8");
    EXPECT_EQ(verdict(policy, "::ffff:169.254.169.254"), "default deny: link-local 169.254.0.0/16");
    EXPECT_EQ(verdict(policy, "::ffff:224.0.0.1"), "default deny: multicast 224.0.0.0/4");
    EXPECT_EQ(verdict(policy, "::127.0.0.1"), "default deny: loopback 127.0.0.0/8");
    EXPECT_EQ(verdict(policy, "::169.254.169.254"), "default deny: link-local 169.254.0.0/16");
    EXPECT_EQ(verdict(policy, "::ffff:198.51.100.2"), "allowed");
}

TEST(AccessPolicy, TransparentModesDenyOnlyLoopbackAndUnspecified) {
    AccessPolicy policy(AccessRules{}, nullptr);
    EXPECT_EQ(verdict(policy, "127.0.0.1"), "default deny: loopback 127.0.0.0/8");
    EXPECT_EQ(verdict(policy, "::ffff:127.0.0.1"), "default deny: loopback 127.0.0.0/8");
    EXPECT_EQ(verdict(policy, "::1"), "default deny: loopback ::1/128");
    EXPECT_EQ(verdict(policy, "0.0.0.0"), "default deny: unspecified 0.0.0.0/8");
    EXPECT_EQ(verdict(policy, "::"), "default deny: unspecified ::/128");
    EXPECT_EQ(verdict(policy, "169.254.169.254"), "allowed");
    EXPECT_EQ(verdict(policy, "fe80::1"), "allowed");
    EXPECT_EQ(verdict(policy, "224.0.0.1"), "allowed");
}

TEST(AccessPolicy, AllowDestReopensADeniedRangeOnlyWhereItIsMoreSpecific) {
    AccessRules rules;
    rules.allowDest = {parseIpPrefix("127.0.0.1/32")};
    auto policy = explicitPolicy(rules);
    EXPECT_EQ(verdict(policy, "127.0.0.1"), "allowed");
    EXPECT_EQ(verdict(policy, "::ffff:127.0.0.1"), "allowed");
    EXPECT_EQ(verdict(policy, "127.0.0.2"), "default deny: loopback 127.0.0.0/8");
}

TEST(AccessPolicy, AnAllowDestOfTheSameLengthBeatsTheDefault) {
    AccessRules rules;
    rules.allowDest = {parseIpPrefix("169.254.0.0/16")};
    EXPECT_EQ(verdict(explicitPolicy(rules), "169.254.169.254"), "allowed");
}

TEST(AccessPolicy, AWiderAllowDestDoesNotReopenAMoreSpecificDefault) {
    AccessRules rules;
    rules.allowDest = {parseIpPrefix("0.0.0.0/0")};
    EXPECT_EQ(verdict(explicitPolicy(rules), "127.0.0.1"), "default deny: loopback 127.0.0.0/8");
}

TEST(AccessPolicy, TheMostSpecificOfAllowAndDenyWins) {
    AccessRules rules;
    rules.denyDest = {parseIpPrefix("203.0.113.0/24")};
    rules.allowDest = {parseIpPrefix("203.0.113.8/29")};
    auto policy = explicitPolicy(rules);
    EXPECT_EQ(verdict(policy, "203.0.113.1"), "--deny-dest 203.0.113.0/24");
    EXPECT_EQ(verdict(policy, "203.0.113.9"), "allowed");
    EXPECT_EQ(verdict(policy, "::ffff:203.0.113.1"), "--deny-dest 203.0.113.0/24");
    rules.denyDest.push_back(parseIpPrefix("203.0.113.9/32"));
    EXPECT_EQ(verdict(explicitPolicy(rules), "203.0.113.9"), "--deny-dest 203.0.113.9/32");
}

TEST(AccessPolicy, OnATieDenyDestBeatsAllowDest) {
    AccessRules rules;
    rules.denyDest = {parseIpPrefix("198.51.100.0/24")};
    rules.allowDest = {parseIpPrefix("198.51.100.0/24")};
    EXPECT_EQ(verdict(explicitPolicy(rules), "198.51.100.7"), "--deny-dest 198.51.100.0/24");
}

TEST(AccessPolicy, AMappedPrefixGivenByTheUserMatchesTheIpv4Destination) {
    AccessRules rules;
    rules.denyDest = {parseIpPrefix("::ffff:198.51.100.0/120")};
    EXPECT_EQ(verdict(explicitPolicy(rules), "198.51.100.7"),
              "--deny-dest ::ffff:198.51.100.0/120");
}

TEST(AccessPolicy, DenyDestAppliesInTransparentModesToo) {
    AccessRules rules;
    rules.denyDest = {parseIpPrefix("2001:db8:bad::/48")};
    AccessPolicy policy(rules, nullptr);
    EXPECT_EQ(verdict(policy, "2001:db8:bad::1"), "--deny-dest 2001:db8:bad::/48");
    EXPECT_EQ(verdict(policy, "2001:db8:600d::1"), "allowed");
}

TEST(AccessPolicy, TheGatewaysOwnAddressesAreDeniedInExplicitModes) {
    GatewayAddresses gateway;
    gateway.replaceAll({GatewayAddresses::addressOf(at("192.0.2.1")),
                        GatewayAddresses::addressOf(at("2001:db8:1::1"))});
    auto policy = explicitPolicy({}, &gateway);
    EXPECT_EQ(verdict(policy, "192.0.2.1"), "default deny: address of this gateway 192.0.2.1/32");
    EXPECT_EQ(verdict(policy, "::ffff:192.0.2.1"),
              "default deny: address of this gateway 192.0.2.1/32");
    EXPECT_EQ(verdict(policy, "2001:db8:1::1"),
              "default deny: address of this gateway 2001:db8:1::1/128");
    EXPECT_EQ(verdict(policy, "192.0.2.2"), "allowed");
    gateway.remove(GatewayAddresses::addressOf(at("192.0.2.1")));
    EXPECT_EQ(verdict(policy, "192.0.2.1"), "allowed") << "a deleted address is open again";
    gateway.add(GatewayAddresses::addressOf(at("192.0.2.2")));
    EXPECT_EQ(verdict(policy, "192.0.2.2"), "default deny: address of this gateway 192.0.2.2/32");
    // Transparent modes: the gateway's addresses are the client's own choice on the wire.
    AccessPolicy transparent(AccessRules{}, &gateway);
    EXPECT_EQ(verdict(transparent, "192.0.2.2"), "allowed");
}

TEST(AccessPolicy, OnlyAHostPrefixReopensAGatewayAddress) {
    GatewayAddresses gateway;
    gateway.replaceAll({GatewayAddresses::addressOf(at("192.0.2.1"))});
    AccessRules wide;
    wide.allowDest = {parseIpPrefix("192.0.2.0/24")};
    EXPECT_EQ(verdict(explicitPolicy(wide, &gateway), "192.0.2.1"),
              "default deny: address of this gateway 192.0.2.1/32");
    AccessRules host;
    host.allowDest = {parseIpPrefix("192.0.2.1/32")};
    EXPECT_EQ(verdict(explicitPolicy(host, &gateway), "192.0.2.1"), "allowed");
}

TEST(AccessPolicy, AGatewayAddressInADefaultRangeIsNamedByThatRange) {
    GatewayAddresses gateway;
    gateway.replaceAll(
        {GatewayAddresses::addressOf(at("127.0.0.1")), GatewayAddresses::addressOf(at("fe80::1"))});
    EXPECT_EQ(verdict(explicitPolicy({}, &gateway), "127.0.0.1"),
              "default deny: loopback 127.0.0.0/8");
    EXPECT_EQ(verdict(explicitPolicy({}, &gateway), "fe80::1"),
              "default deny: link-local fe80::/10");
    AccessRules rules;
    rules.allowDest = {parseIpPrefix("127.0.0.0/8")};
    EXPECT_EQ(verdict(explicitPolicy(rules, &gateway), "127.0.0.1"), "allowed")
        << "the range's own rule governs it, and --allow-dest of the same length beats it";
}

TEST(AccessPolicy, ReadingTheAddressesOfThisNamespaceFindsLoopback) {
    auto read = readGatewayAddresses();
    ASSERT_TRUE(read) << errnoText(read.error());
    GatewayAddresses gateway;
    gateway.replaceAll(read.value());
    // Every namespace has lo; a test runner's namespace has it up with 127.0.0.1, or nothing.
    if (gateway.size() == 0) {
        GTEST_SKIP() << "no address in this network namespace";
    }
    EXPECT_TRUE(gateway.contains(GatewayAddresses::addressOf(at("127.0.0.1"))));
}

TEST(AccessPolicy, ClientsOutsideAllowClientAreRefused) {
    AccessRules rules;
    rules.allowClients = {parseIpPrefix("198.51.100.0/24"), parseIpPrefix("2001:db8:1::/48")};
    AccessPolicy policy(rules, nullptr);
    EXPECT_FALSE(policy.checkClient(at("198.51.100.7")));
    EXPECT_FALSE(policy.checkClient(at("::ffff:198.51.100.7")));
    EXPECT_FALSE(policy.checkClient(at("2001:db8:1::9")));
    auto refused = policy.checkClient(at("192.0.2.9"));
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->rule, "--allow-client");
    EXPECT_EQ(refused->detail,
              "client 192.0.2.9 is in no --allow-client prefix (198.51.100.0/24, 2001:db8:1::/48)");
    EXPECT_FALSE(AccessPolicy(AccessRules{}, nullptr).checkClient(at("192.0.2.9")))
        << "no --allow-client: every client";
}

}  // namespace
}  // namespace tplab
