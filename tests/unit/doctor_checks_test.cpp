// The doctor's reasoning on hand-made snapshots: no root, no kernel.
#include "checks.hpp"

#include <gtest/gtest.h>

namespace tplab {
namespace {

SystemSnapshot healthyTproxyGateway() {
    SystemSnapshot s;
    s.sysctls = {{"net.ipv4.ip_forward", "1"},
                 {"net.ipv6.conf.all.forwarding", "1"},
                 {"net.ipv4.conf.all.rp_filter", "0"},
                 {"net.ipv4.conf.veth-s.rp_filter", "0"}};
    s.interfaces = {"lo", "veth-s"};
    s.iptablesRules =
        "*mangle\n-A PREROUTING -p tcp -m socket --transparent -j MARK --set-xmark 0x1/0x1\n"
        "-A PREROUTING -i veth-c -p tcp -m tcp --dport 80 -j TPROXY --on-port 15002 --on-ip "
        "0.0.0.0 --tproxy-mark 0x1/0x1\nCOMMIT\n";
    s.ipRules4 = "0:\tfrom all lookup local\n32765:\tfrom all fwmark 0x1/0x1 lookup 100\n";
    s.routes4 = {{"100", "local default dev lo scope host \n"}};
    s.capNetAdmin = true;
    s.kernelFeatures = {
        {"xt_TPROXY", true}, {"xt_socket", true}, {"nft_tproxy", true}, {"nft_socket", true}};
    s.tcpListeners = {{"[::]:15002", "tplab", true}};
    return s;
}

DoctorOptions tproxyOptions() {
    DoctorOptions o;
    o.mode = "tproxy";
    o.port = 15002;
    o.spoofSource = true;
    return o;
}

const Finding* find(const std::vector<Finding>& findings, const std::string& id) {
    for (const auto& f : findings) {
        if (f.id == id)
            return &f;
    }
    return nullptr;
}

TEST(DoctorChecks, AHealthyTproxyGatewayHasNoFailure) {
    auto findings = runChecks(healthyTproxyGateway(), tproxyOptions());
    EXPECT_EQ(worstOf(findings), Severity::Ok);
    ASSERT_NE(find(findings, "tproxy.local_route.ipv4"), nullptr);
    EXPECT_EQ(find(findings, "tproxy.ip_rule.ipv6"), nullptr) << "no IPv6 TPROXY rule, no check";
}

TEST(DoctorChecks, AMarkTheIpRuleDoesNotMatchIsNamed) {
    auto s = healthyTproxyGateway();
    s.ipRules4 = "32765:\tfrom all fwmark 0x2/0x2 lookup 100\n";
    auto findings = runChecks(s, tproxyOptions());
    auto finding = find(findings, "tproxy.mark_mismatch.ipv4");
    ASSERT_NE(finding, nullptr);
    EXPECT_EQ(finding->severity, Severity::Fail);
    EXPECT_EQ(finding->fix, "ip -4 rule add fwmark 0x1/0x1 lookup 100");
}

// `tplab rules --spoof-source` also matches transparent sockets in raw PREROUTING (the conntrack
// zone of the upstreams); that rule marks nothing and must not pass for the return path.
TEST(DoctorChecks, TheConntrackZoneRuleIsNotTheSpoofReturnPath) {
    auto s = healthyTproxyGateway();
    s.iptablesRules =
        "*raw\n-A PREROUTING -p tcp -m socket --transparent --restore-skmark -m mark --mark 0x2 "
        "-j CT --zone 1\nCOMMIT\n*mangle\n-A PREROUTING -i veth-c -p tcp -m tcp --dport 80 -j "
        "TPROXY --on-port 15002 --on-ip 0.0.0.0 --tproxy-mark 0x1/0x1\nCOMMIT\n";
    s.nftRuleset =
        "table inet tplab {\n\tchain raw_prerouting {\n\t\tmeta l4proto tcp socket "
        "transparent 1 socket mark 0x00000002 ct zone set 1\n\t}\n}\n";
    auto findings = runChecks(s, tproxyOptions());
    auto finding = find(findings, "spoof.return_rule.ipv4");
    ASSERT_NE(finding, nullptr);
    EXPECT_EQ(finding->severity, Severity::Fail);
}

TEST(DoctorChecks, EffectiveRpFilterIsTheMaximumOfAllAndTheInterface) {
    auto s = healthyTproxyGateway();
    s.sysctls["net.ipv4.conf.all.rp_filter"] = "1";
    s.sysctls["net.ipv4.conf.veth-s.rp_filter"] = "0";
    auto findings = runChecks(s, tproxyOptions());
    auto finding = find(findings, "rp_filter.veth-s");
    ASSERT_NE(finding, nullptr);
    EXPECT_EQ(finding->severity, Severity::Warn);
    EXPECT_NE(finding->summary.find("= 1 (max of all=1, veth-s=0)"), std::string::npos)
        << finding->summary;
}

TEST(DoctorChecks, ANonTransparentListenerFailsOnlyInTproxyMode) {
    auto s = healthyTproxyGateway();
    s.tcpListeners = {{"0.0.0.0:15002", "socat", false}};
    EXPECT_EQ(find(runChecks(s, tproxyOptions()), "listener.tcp")->severity, Severity::Fail);
    auto redirect = tproxyOptions();
    redirect.mode = "redirect";
    redirect.spoofSource = false;
    EXPECT_EQ(find(runChecks(s, redirect), "listener.tcp")->severity, Severity::Ok);
}

TEST(DoctorChecks, MissingCapabilityIsAFailureWhenTheModeNeedsIt) {
    auto s = healthyTproxyGateway();
    s.capNetAdmin = false;
    EXPECT_EQ(find(runChecks(s, tproxyOptions()), "capability.net_admin")->severity,
              Severity::Fail);
}

TEST(DoctorChecks, ConntrackNearItsLimitIsAWarning) {
    auto s = healthyTproxyGateway();
    s.conntrackCount = 950;
    s.conntrackMax = 1000;
    EXPECT_EQ(find(runChecks(s, tproxyOptions()), "conntrack.usage")->severity, Severity::Warn);
}

TEST(DoctorChecks, AFullTableInANamespaceIsRaisedFromTheHostOrAvoidedInTproxyMode) {
    auto s = healthyTproxyGateway();
    s.conntrackCount = 1000;
    s.conntrackMax = 1000;
    s.conntrackMaxWritable = false;
    auto findings = runChecks(s, tproxyOptions());
    const auto* usage = find(findings, "conntrack.usage");
    ASSERT_NE(usage, nullptr);
    EXPECT_NE(usage->fix.find("initial namespace"), std::string::npos) << usage->fix;
    EXPECT_NE(usage->fix.find("--notrack"), std::string::npos) << usage->fix;
}

TEST(DoctorChecks, PastDropsAreReportedEvenWhenTheTableHasRoomNow) {
    auto s = healthyTproxyGateway();
    s.conntrackCount = 10;
    s.conntrackMax = 1000;
    EXPECT_EQ(find(runChecks(s, tproxyOptions()), "conntrack.drops"), nullptr);
    s.conntrackDrops = 3;
    auto findings = runChecks(s, tproxyOptions());
    const auto* drops = find(findings, "conntrack.drops");
    ASSERT_NE(drops, nullptr);
    EXPECT_EQ(drops->severity, Severity::Warn);
    EXPECT_NE(drops->summary.find("3 packets dropped"), std::string::npos) << drops->summary;
}

}  // namespace
}  // namespace tplab
