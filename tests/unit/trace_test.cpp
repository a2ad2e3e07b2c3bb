// tplab trace's pure parts: the flow filter and its nft table, the parsers of nft's trace lines
// and of kfree_skb events, and the journey assembled from them (lines in the format nft 1.0.6
// and Linux 6.18 print, taken from real traces).
#include <gtest/gtest.h>

#include <stdexcept>

#include "drop_event.hpp"
#include "flow_filter.hpp"
#include "journey.hpp"
#include "ruleset_snapshot.hpp"
#include "trace_event.hpp"
#include "trace_summary.hpp"

namespace tplab {
namespace {

TEST(TraceFlowFilter, RejectsWhatCannotReachAnNftRule) {
    FlowFilter filter;
    EXPECT_THROW(validateFlowFilter(filter), std::invalid_argument);  // no port
    filter.ports = {80};
    filter.host = "192.0.2.2; flush ruleset";
    EXPECT_THROW(validateFlowFilter(filter), std::invalid_argument);
    filter.host = "2001:db8::1";
    filter.family = 4;
    EXPECT_THROW(validateFlowFilter(filter), std::invalid_argument);
    filter.family = 0;
    filter.protocol = "sctp";
    EXPECT_THROW(validateFlowFilter(filter), std::invalid_argument);
    filter.protocol = "tcp";
    filter.ports = {80, 81, 82, 83, 84};
    EXPECT_THROW(validateFlowFilter(filter), std::invalid_argument);
}

TEST(TraceFlowFilter, TableTracesBothDirectionsAtTheEntryHooksOnly) {
    FlowFilter filter;
    filter.ports = {8080, 80, 80};
    filter.host = "2001:0db8::0001";
    validateFlowFilter(filter);
    EXPECT_EQ(filter.host, "2001:db8::1");
    EXPECT_EQ(filter.family, 6);
    EXPECT_EQ(describe(filter), "tcp port 80 or 8080, host 2001:db8::1, IPv6");
    EXPECT_EQ(traceTableScript(filter, "t", false).find("ct "), std::string::npos)
        << "no conntrack where NAT does not already use it";
    std::string script = traceTableScript(filter, traceTableName(42), true);
    EXPECT_NE(script.find("table inet tplab_trace_42 {"), std::string::npos);
    EXPECT_NE(script.find("th dport { 80, 8080 } ip6 saddr 2001:db8::1 meta nftrace set 1"),
              std::string::npos);
    EXPECT_NE(script.find("th sport { 80, 8080 } ip6 daddr 2001:db8::1 meta nftrace set 1"),
              std::string::npos);
    for (const char* hook : {"prerouting", "input", "forward", "output", "postrouting"}) {
        EXPECT_NE(script.find(std::string("hook ") + hook + " priority -2147483648"),
                  std::string::npos)
            << hook;
    }
    EXPECT_NE(script.find("ct original proto-dst { 80, 8080 } ct original ip6 saddr "
                          "2001:db8::1 meta nftrace set 1"),
              std::string::npos);
}

TEST(TraceFlowFilter, PidIsReadBackOnlyFromTplabNames) {
    EXPECT_EQ(pidFromTraceName("tplab_trace_1234"), 1234);
    EXPECT_EQ(pidFromTraceName("tplab-99"), 99);
    EXPECT_EQ(pidFromTraceName("tplab-0"), -1);
    EXPECT_EQ(pidFromTraceName("tplab-12x"), -1);
    EXPECT_EQ(pidFromTraceName("tplab_trace_"), -1);
    EXPECT_EQ(pidFromTraceName("other-12"), -1);
}

TEST(TraceEventParser, ReadsPacketRuleAndPolicyLines) {
    auto packet = parseTraceLine(
        "trace id ca542bd7 ip mangle PREROUTING packet: iif \"trxb\" ether saddr "
        "16:c1:f0:6c:88:33 ether daddr 46:6f:f3:b4:64:6f ip saddr 192.0.2.2 ip daddr 192.0.2.1 "
        "ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 61963 ip length 60 tcp sport 38826 tcp "
        "dport 80 tcp flags == 0x12 tcp window 64240 ",
        1.0);
    ASSERT_TRUE(packet);
    EXPECT_EQ(packet->kind, TraceEvent::Kind::Packet);
    EXPECT_EQ(packet->id, "ca542bd7");
    EXPECT_EQ(packet->family, "ip");
    EXPECT_EQ(packet->table, "mangle");
    EXPECT_EQ(packet->chain, "PREROUTING");
    EXPECT_EQ(packet->packet.iif, "trxb");
    EXPECT_EQ(packet->packet.saddr, "192.0.2.2");
    EXPECT_EQ(packet->packet.daddr, "192.0.2.1");
    EXPECT_EQ(packet->packet.sport, 38826);
    EXPECT_EQ(packet->packet.dport, 80);
    EXPECT_EQ(packet->packet.tcpFlags, "syn|ack");

    auto rule = parseTraceLine(
        "trace id ca542bd7 ip mangle PREROUTING rule tcp dport 80 counter packets 0 bytes 0 xt "
        "target TPROXY # handle 4 (verdict drop)",
        1.0);
    ASSERT_TRUE(rule);
    EXPECT_EQ(rule->kind, TraceEvent::Kind::Rule);
    EXPECT_EQ(rule->rule, "tcp dport 80 counter xt target TPROXY");
    EXPECT_EQ(rule->handle, 4);
    EXPECT_EQ(rule->verdict, "drop");

    auto policy = parseTraceLine(
        "trace id dc96987e ip mangle PREROUTING policy accept meta mark 0x00000005 ", 1.0);
    ASSERT_TRUE(policy);
    EXPECT_EQ(policy->kind, TraceEvent::Kind::Policy);
    EXPECT_EQ(policy->verdict, "accept");
    EXPECT_EQ(policy->packet.mark, 5u);

    EXPECT_FALSE(parseTraceLine("add table inet tplab_trace_1 # handle 5", 1.0));
    EXPECT_FALSE(parseTraceLine("# new generation 8 by process 26845 (nft)", 1.0));
}

TEST(TraceDropParser, ReadsReasonAndFunction) {
    auto drop = parseDropLine(
        "            bash-20665   [001] ..s1.   820.850078: kfree_skb: skbaddr=00000000bf6ae864 "
        "rx_sk=0000000000000000 protocol=2048 location=nft_do_chain+0x46f/0x690 reason: "
        "NETFILTER_DROP");
    ASSERT_TRUE(drop);
    EXPECT_DOUBLE_EQ(drop->time, 820.850078);
    EXPECT_EQ(drop->protocol, 2048u);
    EXPECT_EQ(drop->location, "nft_do_chain");
    EXPECT_EQ(drop->reason, "NETFILTER_DROP");
    EXPECT_FALSE(parseDropLine("# tracer: nop"));
}

TEST(TraceRulesetSnapshot, KnowsEachChainsHookAndPriority) {
    auto rules = RulesetSnapshot::parse(
        "table ip mangle { # handle 4\n"
        "\tchain PREROUTING { # handle 1\n"
        "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
        "\t\ttcp dport 80 counter packets 2 bytes 120 meta mark set 0x5 # handle 2\n"
        "\t\ttcp dport 80 counter packets 2 bytes 120 xt target TPROXY # handle 4\n"
        "\t}\n"
        "}\n");
    const ChainInfo* chain = rules.chain("ip", "mangle", "PREROUTING");
    ASSERT_NE(chain, nullptr);
    EXPECT_EQ(chain->hook, "prerouting");
    EXPECT_EQ(describePriority("ip", chain->hook, chain->priority), "mangle (-150)");
    EXPECT_EQ(chain->handles, (std::vector<long>{2, 4}));
    auto tproxy = rules.rulesAtHook("prerouting", "TPROXY");
    ASSERT_EQ(tproxy.size(), 1u);
    EXPECT_EQ(tproxy[0].handle, 4);
}

// The TPROXY target with no transparent listener: the SYN is dropped by the rule, twice, and
// the kernel's NETFILTER_DROP is tied to it by time.
TEST(TraceJourney, RuleDropIsTiedToTheKernelsDropAndRetransmissionsFoldIntoOne) {
    std::vector<TraceEvent> events;
    auto add = [&](const std::string& line, double time) {
        auto event = parseTraceLine(line, time);
        ASSERT_TRUE(event) << line;
        events.push_back(*event);
    };
    for (auto [id, time] : {std::pair<std::string, double>{"aa", 10.0}, {"bb", 11.0}}) {
        std::string head = "trace id " + id + " ";
        add(head +
                "inet tplab_trace_7 prerouting packet: iif \"veth-c\" ip saddr 192.0.2.2 ip "
                "daddr 198.51.100.2 tcp sport 40000 tcp dport 80 tcp flags == syn",
            time);
        add(head +
                "inet tplab_trace_7 prerouting rule meta l4proto tcp th dport { 80 } meta "
                "nftrace set 1 # handle 7 (verdict continue)",
            time);
        add(head + "inet tplab_trace_7 prerouting policy accept ", time);
        add(head +
                "ip mangle PREROUTING packet: iif \"veth-c\" ip saddr 192.0.2.2 ip daddr "
                "198.51.100.2 tcp sport 40000 tcp dport 80 tcp flags == syn",
            time);
        add(head +
                "ip mangle PREROUTING rule iifname \"veth-c\" tcp dport 80 counter packets 0 "
                "bytes 0 xt target TPROXY # handle 2 (verdict drop)",
            time);
    }
    std::vector<DropEvent> drops = {{9.999, 2048, "nft_do_chain", "NETFILTER_DROP"},
                                    {10.5, 2048, "tcp_v4_rcv", "NO_SOCKET"},
                                    {10.999, 2048, "nft_do_chain", "NETFILTER_DROP"}};
    auto rules = RulesetSnapshot::parse(
        "table ip mangle {\n\tchain PREROUTING {\n"
        "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
        "\t\tiifname \"veth-c\" tcp dport 80 counter xt target TPROXY # handle 2\n\t}\n}\n");
    int probes = 0;
    auto journey = assembleJourney(events, drops, rules, {"tplab_trace_7", 2, 3},
                                   [&](const PacketHeaders&, std::uint32_t) {
                                       ++probes;
                                       return std::string("never asked");
                                   });
    ASSERT_EQ(journey.legs.size(), 1u);
    ASSERT_EQ(journey.legs[0].packets.size(), 1u);
    const auto& packet = journey.legs[0].packets[0];
    EXPECT_EQ(packet.copies, 2);
    EXPECT_EQ(packet.fate, "dropped");
    ASSERT_TRUE(packet.drop);
    EXPECT_EQ(packet.drop->reason, "NETFILTER_DROP");
    ASSERT_EQ(packet.steps.size(), 2u);
    EXPECT_EQ(packet.steps[0].kind, JourneyStep::Kind::Hook);
    EXPECT_EQ(packet.steps[0].hook, "prerouting");
    EXPECT_EQ(packet.steps[1].kind, JourneyStep::Kind::Rule);
    EXPECT_EQ(packet.steps[1].table, "ip mangle");
    EXPECT_EQ(packet.steps[1].priority, "mangle (-150)");
    EXPECT_EQ(packet.steps[1].handle, 2);
    EXPECT_EQ(packet.steps[1].verdict, "drop");
    EXPECT_EQ(probes, 0);  // a packet a rule dropped never reached routing
    EXPECT_EQ(journey.dropsTied, 2);
    ASSERT_EQ(journey.untiedDrops.size(), 1u);
    EXPECT_EQ(journey.untiedDrops[0].reason, "NO_SOCKET");
}

// A packet accepted in prerouting that never reaches input or forward died in between: the
// routing question is asked with the mark the TPROXY rule set, and the drop names the place.
TEST(TraceJourney, PacketThatVanishesAfterPreroutingGetsRoutingAndTheDrop) {
    std::vector<TraceEvent> events;
    for (const char* line :
         {"trace id cc inet tplab_trace_7 prerouting packet: iif \"veth-c\" ip saddr 192.0.2.2 "
          "ip daddr 198.51.100.2 tcp sport 40000 tcp dport 80 tcp flags == syn",
          "trace id cc ip mangle PREROUTING packet: iif \"veth-c\" ip saddr 192.0.2.2 ip daddr "
          "198.51.100.2 tcp sport 40000 tcp dport 80 tcp flags == syn",
          "trace id cc ip mangle PREROUTING rule iifname \"veth-c\" xt target TPROXY # handle 5 "
          "(verdict accept)"}) {
        events.push_back(*parseTraceLine(line, 20.0));
    }
    auto rules = RulesetSnapshot::parse("");
    std::uint32_t askedMark = 0;
    auto journey = assembleJourney(events, {{20.0001, 2048, "ip_forward", "NOT_SPECIFIED"}}, rules,
                                   {"tplab_trace_7", 2, 3},
                                   [&](const PacketHeaders& packet, std::uint32_t mark) {
                                       askedMark = mark;
                                       return "unicast (forward), asked for " + packet.daddr;
                                   });
    // No iptables text here, so the mark comes from the hook's entry (0): what matters is that
    // routing was asked and the drop was tied.
    ASSERT_EQ(journey.legs.size(), 1u);
    const auto& packet = journey.legs[0].packets.at(0);
    EXPECT_EQ(packet.fate, "dropped");
    ASSERT_TRUE(packet.drop);
    EXPECT_EQ(packet.drop->location, "ip_forward");
    bool routed = false;
    for (const auto& step : packet.steps)
        routed = routed || (step.kind == JourneyStep::Kind::Routing && step.inferred &&
                            step.text == "unicast (forward), asked for 198.51.100.2");
    EXPECT_TRUE(routed);
    EXPECT_EQ(askedMark, 0u);
}

// A delivered SYN is not called dropped for TCP's routine drops of old data nearby.
TEST(TraceJourney, DeliveredPacketIsNotBlamedForRoutineTcpDrops) {
    std::vector<TraceEvent> events;
    for (const char* line :
         {"trace id dd inet tplab_trace_7 prerouting packet: iif \"veth-c\" ip saddr 192.0.2.2 "
          "ip daddr 198.51.100.2 tcp sport 40000 tcp dport 80 tcp flags == syn",
          "trace id dd inet tplab_trace_7 input packet: iif \"veth-c\" ip saddr 192.0.2.2 ip "
          "daddr 198.51.100.2 tcp sport 40000 tcp dport 80 tcp flags == syn"}) {
        events.push_back(*parseTraceLine(line, 30.0));
    }
    auto journey = assembleJourney(events, {{29.99, 2048, "tcp_validate_incoming", "TCP_OLD_DATA"}},
                                   RulesetSnapshot::parse(""), {"tplab_trace_7", 2, 3}, nullptr);
    ASSERT_EQ(journey.legs.size(), 1u);
    EXPECT_EQ(journey.legs[0].packets.at(0).fate, "delivered");
    EXPECT_FALSE(journey.legs[0].packets.at(0).drop);
}

TEST(TraceReportSummary, KernelPathIsHooksRulesAndTheEnd) {
    using Json = nlohmann::ordered_json;
    Json steps = Json::array();
    steps.push_back({{"kind", "hook"}, {"hook", "prerouting"}});
    steps.push_back({{"kind", "rule"},
                     {"table", "ip nat"},
                     {"iptables", "-A PREROUTING -p tcp -j REDIRECT --to-ports 15001"},
                     {"rule", ""},
                     {"handle", 2},
                     {"verdict", "accept"}});
    steps.push_back({{"kind", "routing"}, {"text", "routed to this host"}});
    steps.push_back({{"kind", "hook"},
                     {"hook", "input"},
                     {"text", "destination rewritten (NAT): now 192.0.2.1:15001"}});
    Json packet = {{"fate", "delivered"}, {"drop", nullptr}, {"steps", steps}};
    Json trace = {{"legs", Json::array({Json{{"packets", Json::array({packet})}}})}};
    ASSERT_FALSE(trace.is_discarded());
    EXPECT_EQ(kernelPathSummary(trace),
              "prerouting [ip nat REDIRECT -> accept] > input (now 192.0.2.1:15001); delivered");
    EXPECT_EQ(kernelPathSummary(nullptr), "-");
}

}  // namespace
}  // namespace tplab
