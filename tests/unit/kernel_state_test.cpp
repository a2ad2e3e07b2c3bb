// Parsing the gateway's snapshots, on lines copied from real runs in the labs.
#include "kernel_state.hpp"

#include <gtest/gtest.h>

namespace tplab {
namespace {

TEST(KernelState, ConntrackEntryWithARewrittenReplyIsNat) {
    auto entries = parseConntrack(
        {"conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.",
         "tcp      6 119 TIME_WAIT src=192.0.2.2 dst=198.51.100.2 sport=57282 dport=80 "
         "src=192.0.2.1 dst=192.0.2.2 sport=15001 dport=57282 [ASSURED] mark=0 use=1"});
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].originalSource.toString(), "192.0.2.2:57282");
    EXPECT_EQ(entries[0].originalDestination.toString(), "198.51.100.2:80");
    EXPECT_EQ(entries[0].replySource.toString(), "192.0.2.1:15001");
    EXPECT_TRUE(entries[0].isNat());
}

TEST(KernelState, ConntrackEntryWithAMirroredReplyIsNotNat) {
    auto entries = parseConntrack(
        {"tcp      6 431999 ESTABLISHED src=2001:db8:1::2 dst=2001:db8:2::2 sport=40000 "
         "dport=80 src=2001:db8:2::2 dst=2001:db8:1::2 sport=80 dport=40000 [ASSURED] mark=1 "
         "use=1"});
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].originalSource.toString(), "[2001:db8:1::2]:40000");
    EXPECT_FALSE(entries[0].isNat());
}

TEST(KernelState, FindsTheSocketWhosePeerIsTheClientInEveryAddressForm) {
    std::vector<std::string> lines = {
        "State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process",
        "LISTEN 0      1024               *:15001            *:*     "
        "users:((\"tplab\",pid=1,fd=5))",
        "ESTAB  0      0      [::ffff:192.0.2.1]:15001 [::ffff:192.0.2.2]:41778 "
        "users:((\"tplab\",pid=1,fd=9))",
        "ESTAB  0      0      [2001:db8:2::2]:80 [2001:db8:1::2]:50000 "
        "users:((\"tplab\",pid=1,fd=10))"};
    auto v4 = findSocketLine(lines, Endpoint::parse("192.0.2.2:41778"));
    ASSERT_TRUE(v4.has_value());
    EXPECT_NE(v4->find("15001"), std::string::npos);
    EXPECT_TRUE(findSocketLine(lines, Endpoint::parse("[2001:db8:1::2]:50000")).has_value());
    EXPECT_FALSE(findSocketLine(lines, Endpoint::parse("192.0.2.2:1")).has_value());
}

TEST(KernelState, MatchedRulesAreThoseWithNonZeroCountersNamedWithTheirTable) {
    auto rules = matchedRules({
        "*mangle",
        ":PREROUTING ACCEPT [10:600]",
        "[0:0] -A PREROUTING -p tcp -m socket --transparent -j MARK --set-xmark 0x1/0xffffffff",
        "[5:344] -A PREROUTING -i veth-c -p tcp -m tcp --dport 80 -j TPROXY --on-port 15002",
        "COMMIT",
        "*nat",
        "[1:60] -A PREROUTING -i veth-c -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 15001",
        "\t\ttcp dport 80 counter packets 0 bytes 0 redirect to :15001",
        "\t\ttcp dport 80 counter packets 3 bytes 180 tproxy ip to :15002",
    });
    ASSERT_EQ(rules.size(), 3u);
    EXPECT_EQ(rules[0],
              "[5:344] -t mangle -A PREROUTING -i veth-c -p tcp -m tcp --dport 80 -j TPROXY "
              "--on-port 15002");
    EXPECT_EQ(rules[1].rfind("[1:60] -t nat -A PREROUTING", 0), 0u);
    EXPECT_EQ(rules[2].rfind("nft: tcp dport 80 counter packets 3", 0), 0u);
}

}  // namespace
}  // namespace tplab
