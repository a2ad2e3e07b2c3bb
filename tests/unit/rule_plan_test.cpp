// What `tplab rules` plans for each mode, and the combinations it refuses.
#include "rule_plan.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace tplab {
namespace {

RuleSpec spec(InterceptMode mode) {
    RuleSpec s;
    s.mode = mode;
    s.proxyPort = 15001;
    s.ipv6 = false;
    s.inInterface = "veth-c";
    s.destinationPorts = {80};
    return s;
}

bool mentions(const std::vector<RuleStep>& steps, const std::string& text) {
    return renderPlan(steps).find(text) != std::string::npos;
}

TEST(RulePlan, RedirectIsOneNatRuleAndForwarding) {
    auto steps = planRules(spec(InterceptMode::Redirect));
    EXPECT_TRUE(mentions(steps, "sysctl -qw net.ipv4.ip_forward=1"));
    EXPECT_TRUE(mentions(steps,
                         "iptables -w -t nat -A PREROUTING -i veth-c -p tcp --dport 80 -j REDIRECT "
                         "--to-ports 15001"));
    EXPECT_FALSE(mentions(steps, "ip -4 rule")) << "REDIRECT needs no policy routing";
}

TEST(RulePlan, TproxyNeedsTheMarkTheRuleAndTheLocalRoute) {
    auto steps = planRules(spec(InterceptMode::Tproxy));
    EXPECT_TRUE(mentions(steps, "-j TPROXY --on-port 15001 --tproxy-mark 0x1/0x1"));
    EXPECT_TRUE(mentions(steps, "ip -4 rule add fwmark 0x1/0x1 lookup 100"));
    EXPECT_TRUE(mentions(steps, "ip -4 route add local 0.0.0.0/0 dev lo table 100"));
}

TEST(RulePlan, EveryStepSaysWhyAndCanBeUndoneOrRestored) {
    auto s = spec(InterceptMode::Tproxy);
    s.spoofSource = true;
    s.local = true;
    s.ipv6 = true;
    for (const auto& step : planRules(s)) {
        EXPECT_FALSE(step.why.empty()) << step.apply.text();
        EXPECT_TRUE(step.remove.has_value() || !step.sysctl.empty()) << step.apply.text();
    }
}

TEST(RulePlan, LocalTrafficIsExemptedByTheProxysMarkBeforeItIsIntercepted) {
    auto s = spec(InterceptMode::Redirect);
    s.local = true;
    std::string plan = renderPlan(planRules(s));
    auto exempt = plan.find("-t nat -A OUTPUT -p tcp -m mark --mark 0x2 -j RETURN");
    auto redirect = plan.find("-t nat -A OUTPUT '!' -d 127.0.0.0/8 -p tcp --dport 80 -j REDIRECT");
    ASSERT_NE(exempt, std::string::npos) << plan;
    ASSERT_NE(redirect, std::string::npos) << plan;
    EXPECT_LT(exempt, redirect) << "RETURN must come before REDIRECT";
}

TEST(RulePlan, NftPutsEverythingInOneReplaceableTable) {
    auto s = spec(InterceptMode::Tproxy);
    s.firewall = Firewall::Nft;
    s.ipv6 = true;
    auto steps = planRules(s);
    std::string plan = renderPlan(steps);
    EXPECT_NE(plan.find("delete table inet tplab"), std::string::npos);
    EXPECT_NE(plan.find("tproxy ip to :15001"), std::string::npos) << plan;
    EXPECT_NE(plan.find("tproxy ip6 to :15001"), std::string::npos) << plan;
    EXPECT_EQ(steps.back().remove->text(), "nft delete table inet tplab");
}

TEST(RulePlan, RefusesWhatCannotWork) {
    auto udpRedirect = spec(InterceptMode::Redirect);
    udpRedirect.udp = true;
    EXPECT_THROW(planRules(udpRedirect), std::invalid_argument);
    auto dnatWithoutAddress = spec(InterceptMode::Dnat);
    EXPECT_THROW(planRules(dnatWithoutAddress), std::invalid_argument);
    auto overlappingMark = spec(InterceptMode::Tproxy);
    overlappingMark.proxyMark = 3;
    EXPECT_THROW(planRules(overlappingMark), std::invalid_argument);
    auto noPort = spec(InterceptMode::Redirect);
    noPort.proxyPort = 0;
    EXPECT_THROW(planRules(noPort), std::invalid_argument);
}

TEST(RulePlan, DnatNamesTheTargetPerFamily) {
    auto s = spec(InterceptMode::Dnat);
    s.ipv6 = true;
    s.dnatAddress4 = "192.0.2.1";
    s.dnatAddress6 = "2001:db8:1::1";
    auto steps = planRules(s);
    EXPECT_TRUE(mentions(steps, "-j DNAT --to-destination 192.0.2.1:15001"));
    EXPECT_TRUE(mentions(steps, "-j DNAT --to-destination '[2001:db8:1::1]:15001'"));
}

}  // namespace
}  // namespace tplab
