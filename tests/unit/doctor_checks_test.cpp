// The doctor's reasoning on snapshots: the rules come from real captures (tests/data/doctor,
// made by its capture.sh in a scratch namespace), the rest is set by hand. No root, no kernel.
#include "checks.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "where_to_look.hpp"

namespace tplab {
namespace {

// A file captured by tests/data/doctor/capture.sh.
std::string captured(const std::string& name) {
    std::ifstream in(std::string(TPLAB_TEST_DATA) + "/doctor/" + name);
    EXPECT_TRUE(in.good()) << name;
    std::ostringstream text;
    text << in.rdbuf();  // may be empty: a set-up without iptables rules saves nothing
    return text.str();
}

// The rules, ip rules and table 100 of the capture `name` (both families).
void readRules(SystemSnapshot& s, const std::string& name) {
    s.iptablesRules = captured(name + ".iptables.txt");
    s.ip6tablesRules = captured(name + ".ip6tables.txt");
    s.nftRules = parseNftRuleset(captured(name + ".nft.json"));
    s.ipRules4 = parseIpRules(captured(name + ".ip4-rule.json"));
    s.ipRules6 = parseIpRules(captured(name + ".ip6-rule.json"));
    s.routes4 = {{"100", parseRoutes(captured(name + ".ip4-route-100.json"))}};
    s.routes6 = {{"100", parseRoutes(captured(name + ".ip6-route-100.json"))}};
}

SystemSnapshot healthyTproxyGateway() {
    SystemSnapshot s;
    s.sysctls = {{"net.ipv4.ip_forward", "1"},
                 {"net.ipv6.conf.all.forwarding", "1"},
                 {"net.ipv4.conf.all.rp_filter", "0"},
                 {"net.ipv4.conf.veth-s.rp_filter", "0"}};
    s.interfaces = {"lo", "veth-s"};
    // IPv4 only: `tplab rules --mode tproxy --spoof-source --mark 2`'s iptables rules.
    s.iptablesRules = captured("tplab-rules-spoof-iptables.iptables.txt");
    s.ipRules4 = parseIpRules(captured("tplab-rules-spoof-iptables.ip4-rule.json"));
    s.routes4 = {{"100", parseRoutes(captured("tplab-rules-spoof-iptables.ip4-route-100.json"))}};
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
    IpRule other;
    other.priority = 32765;
    other.fwmark = 0x2;
    other.fwmask = 0x2;
    other.table = "100";
    s.ipRules4 = {other};
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
    for (const auto& rule : parseNftRuleset(captured("tplab-rules-spoof-nft.nft.json"))) {
        if (rule.ctZoneSet && rule.socketTransparent) {  // socket mark 0x2 ct zone set 1
            s.nftRules.push_back(rule);
        }
    }
    ASSERT_EQ(s.nftRules.size(), 1U);
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

// Issue 20: valid set-ups the doctor misread. Each capture is one TPROXY set-up; the doctor must
// find its tproxy rule, its mark, the ip rule that routes it and the local route.
struct ValidSetup {
    std::string capture;
    bool v6;
};

void PrintTo(const ValidSetup& setup, std::ostream* out) {
    *out << setup.capture;
}

class DoctorReadsAValidSetup : public ::testing::TestWithParam<ValidSetup> {};

TEST_P(DoctorReadsAValidSetup, WithoutAFailure) {
    SystemSnapshot s = healthyTproxyGateway();
    readRules(s, GetParam().capture);
    auto o = tproxyOptions();
    o.spoofSource = false;
    auto findings = runChecks(s, o);
    const std::string family = GetParam().v6 ? "ipv6" : "ipv4";
    const auto* rule = find(findings, "tproxy.ip_rule." + family);
    ASSERT_NE(rule, nullptr);
    EXPECT_EQ(rule->severity, Severity::Ok) << rule->summary;
    const auto* route = find(findings, "tproxy.local_route." + family);
    ASSERT_NE(route, nullptr);
    EXPECT_EQ(route->severity, Severity::Ok) << route->summary;
    for (const auto& finding : findings) {
        EXPECT_NE(finding.severity, Severity::Fail) << finding.id << ": " << finding.summary;
    }
}

TEST_P(DoctorReadsAValidSetup, WithSpoofingItsSocketRuleIsTheReturnPath) {
    SystemSnapshot s = healthyTproxyGateway();
    readRules(s, GetParam().capture);
    auto findings = runChecks(s, tproxyOptions());
    const auto* rule =
        find(findings, std::string("spoof.return_rule.") + (GetParam().v6 ? "ipv6" : "ipv4"));
    ASSERT_NE(rule, nullptr);
    EXPECT_EQ(rule->severity, Severity::Ok) << rule->summary;
}

INSTANTIATE_TEST_SUITE_P(, DoctorReadsAValidSetup,
                         ::testing::Values(ValidSetup{"nft-table-ip", false},
                                           ValidSetup{"nft-table-ip6", true},
                                           ValidSetup{"nft-inet-tproxy-ip", false},
                                           ValidSetup{"kernel-recipe", false},
                                           ValidSetup{"tplab-rules-spoof-nft", true}),
                         [](const auto& testCase) {
                             std::string name = testCase.param.capture;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

TEST(KernelRules, AnIpRuleWithAMaskAndAnIifIsOneFwmarkRule) {
    auto rules = parseIpRules(captured("nft-table-ip.ip4-rule.json"));
    auto marked = std::find_if(rules.begin(), rules.end(),
                               [](const IpRule& r) { return r.fwmark && r.table == "100"; });
    ASSERT_NE(marked, rules.end());
    EXPECT_EQ(*marked->fwmark, 0x1U);
    EXPECT_EQ(marked->fwmask, 0x1U);
    EXPECT_EQ(marked->iif, "veth-c");
    EXPECT_FALSE(marked->otherSelectors);
    auto narrow =
        std::find_if(rules.begin(), rules.end(), [](const IpRule& r) { return r.table == "101"; });
    ASSERT_NE(narrow, rules.end());
    EXPECT_EQ(narrow->priority, 100U);
    EXPECT_EQ(narrow->fwmask, 0xffffffffU) << "`fwmark 0x4` alone matches all 32 bits";
    EXPECT_TRUE(narrow->otherSelectors) << "from/to";
}

TEST(KernelRules, AnNftTproxyRuleInATableIpHasItsPortAndMark) {
    auto rules = parseNftRuleset(captured("nft-table-ip.nft.json"));
    auto tproxy = std::find_if(rules.begin(), rules.end(),
                               [](const NftRule& r) { return r.tproxyPort.has_value(); });
    ASSERT_NE(tproxy, rules.end());
    EXPECT_EQ(*tproxy->tproxyPort, 15002);
    EXPECT_EQ(tproxy->family, "ip");
    EXPECT_TRUE(tproxy->appliesTo(false));
    EXPECT_FALSE(tproxy->appliesTo(true));
    ASSERT_TRUE(tproxy->markSet.has_value());
    EXPECT_EQ(tproxy->markSet->value, 0x1U);
    EXPECT_EQ(tproxy->hook, "prerouting");
}

TEST(KernelRules, TextThatIsNotJsonGivesNoRules) {
    EXPECT_TRUE(parseIpRules("").empty());
    EXPECT_TRUE(parseRoutes("0:\tfrom all lookup local").empty());
    EXPECT_TRUE(parseNftRuleset("table ip t {}").empty());
}

// Issue 19 item 5: the kernel documentation's recipe has no conntrack zone; `tplab rules
// --spoof-source --mark 2` has one, in iptables and in nft.
TEST(DoctorChecks, TheKernelRecipeHasNoConntrackZoneForTheProxysMark) {
    SystemSnapshot s = healthyTproxyGateway();
    readRules(s, "kernel-recipe");
    auto o = tproxyOptions();
    o.mark = 0x2;
    auto findings = runChecks(s, o);
    const auto* zone = find(findings, "spoof.conntrack_zone.ipv4");
    ASSERT_NE(zone, nullptr);
    EXPECT_EQ(zone->severity, Severity::Warn);
    EXPECT_NE(zone->summary.find("0x2"), std::string::npos) << zone->summary;
    EXPECT_NE(zone->fix.find("tplab rules --spoof-source --mark 0x2"), std::string::npos);
}

TEST(DoctorChecks, TplabRulesZonesMatchTheirMarkInBothFirewalls) {
    for (const std::string firewall : {"iptables", "nft"}) {
        SystemSnapshot s = healthyTproxyGateway();
        readRules(s, "tplab-rules-spoof-" + firewall);
        auto o = tproxyOptions();
        o.mark = 0x2;
        auto findings = runChecks(s, o);
        for (const std::string id : {"spoof.conntrack_zone.ipv4", "spoof.conntrack_zone.ipv6"}) {
            ASSERT_NE(find(findings, id), nullptr) << firewall << " " << id;
            EXPECT_EQ(find(findings, id)->severity, Severity::Ok) << firewall << " " << id;
        }
        o.mark = 0x4;  // a proxy started with another --mark is not zoned
        EXPECT_EQ(find(runChecks(s, o), "spoof.conntrack_zone.ipv4")->severity, Severity::Warn)
            << firewall;
    }
}

TEST(DoctorChecks, AnNftTproxyRuleThatSetsNoMarkIsAFailure) {
    SystemSnapshot s = healthyTproxyGateway();
    readRules(s, "nft-table-ip");
    s.iptablesRules.clear();
    for (auto& rule : s.nftRules) {
        if (rule.tproxyPort) {
            rule.markSet.reset();
        }
    }
    auto findings = runChecks(s, tproxyOptions());
    const auto* mark = find(findings, "tproxy.mark.ipv4");
    ASSERT_NE(mark, nullptr);
    EXPECT_EQ(mark->severity, Severity::Fail);
    EXPECT_NE(mark->summary.find("table ip tproxy4 chain prerouting"), std::string::npos);
}

// Issue 20, exercises: --no-fix shows where to look, and never the fix itself.
TEST(WhereToLook, EveryFindingWithAFixHasAPlaceToLookThatIsNotTheFix) {
    SystemSnapshot s;  // nothing set up: most checks fail
    s.interfaces = {"lo", "veth-s"};
    s.sysctls = {{"net.ipv4.conf.all.rp_filter", "1"}, {"net.ipv4.conf.all.src_valid_mark", "1"}};
    s.conntrackCount = 999;
    s.conntrackMax = 1000;
    s.conntrackDrops = 1;
    NftRule unmarked;  // an nft tproxy rule without a mark: tproxy.mark.ipv4
    unmarked.family = "ip";
    unmarked.tproxyPort = 15002;
    s.nftRules = {unmarked};
    int withFix = 0;
    for (const auto& mode : {"tproxy", "sk-lookup"}) {
        auto o = tproxyOptions();
        o.mode = mode;
        s.skLookup = SkLookupSnapshot{};
        for (const auto& finding : runChecks(s, o)) {
            if (finding.fix.empty()) {
                EXPECT_EQ(whereToLook(finding), "") << finding.id;
                continue;
            }
            ++withFix;
            std::string look = whereToLook(finding);
            EXPECT_FALSE(look.empty()) << finding.id;
            EXPECT_EQ(look.find(finding.fix), std::string::npos) << finding.id << ": " << look;
            EXPECT_EQ(look.find("tplab trace"), std::string::npos) << "not available yet";
            EXPECT_EQ(look.rfind("the summary names", 0), std::string::npos)
                << finding.id << " has only the generic hint";
        }
    }
    EXPECT_GT(withFix, 10);
}

}  // namespace
}  // namespace tplab
