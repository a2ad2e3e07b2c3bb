// `tplab doctor` on a gateway set up by `tplab rules` for TPROXY with spoofing, then broken on
// purpose one fault at a time: the doctor must name each fault, and its exit code must reflect
// the worst finding.
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "netns_topology.hpp"
#include "process.hpp"

namespace tplab::test {
namespace {

struct Fault {
    std::string name;
    std::string breakIt;    // shell command run in the gateway
    std::string findingId;  // what the doctor must report
    std::string severity;   // "warn" or "FAIL"
    int exitCode;
};

class DoctorNamesTheFault : public ::testing::TestWithParam<Fault> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        net = std::make_unique<NetnsTopology>();
        net->mustExec(net->gateway(), std::string(TPLAB_BINARY) +
                                          " rules --apply --mode tproxy --port 15002 --dport 80 "
                                          "--in-interface veth-c --spoof-source");
        proxy = net->spawn(
            net->gateway(),
            {TPLAB_BINARY, "proxy", "--mode", "tproxy", "--listen", "[::]:15002", "--spoof-source"},
            "/dev/null");
        ASSERT_TRUE(net->waitListening(net->gateway(), 15002));
    }
    void TearDown() override {
        proxy.stop();
        if (net) {
            net->exec(net->gateway(), std::string(TPLAB_BINARY) +
                                          " rules --remove --mode tproxy --port 15002 --dport 80 "
                                          "--in-interface veth-c --spoof-source");
        }
        net.reset();
    }
    std::pair<int, nlohmann::json> doctor() {
        auto result = net->exec(net->gateway(), std::string(TPLAB_BINARY) +
                                                    " doctor --mode tproxy --port 15002 "
                                                    "--spoof-source --json");
        return {result.exitCode, nlohmann::json::parse(result.output, nullptr, false)};
    }
    std::unique_ptr<NetnsTopology> net;
    Process proxy;
};

TEST_P(DoctorNamesTheFault, HealthyFirstThenTheFaultIsNamed) {
    auto [healthyExit, healthy] = doctor();
    ASSERT_FALSE(healthy.is_discarded());
    EXPECT_NE(healthy["worst"], "FAIL") << healthy.dump(2);
    EXPECT_EQ(healthyExit, healthy["worst"] == "warn" ? 1 : 0);

    if (GetParam().breakIt == "stop the proxy") {
        proxy.stop();
    } else {
        net->mustExec(net->gateway(), GetParam().breakIt);
    }
    auto [exitCode, report] = doctor();
    ASSERT_FALSE(report.is_discarded());
    bool named = false;
    for (const auto& finding : report["findings"]) {
        if (finding["id"] == GetParam().findingId) {
            named = true;
            EXPECT_EQ(finding["severity"], GetParam().severity) << finding.dump();
            EXPECT_FALSE(finding["fix"].get<std::string>().empty())
                << "every fault comes with a fix";
        }
    }
    EXPECT_TRUE(named) << GetParam().findingId << " missing from:\n" << report.dump(2);
    EXPECT_EQ(exitCode, GetParam().exitCode) << report.dump(2);
}

INSTANTIATE_TEST_SUITE_P(
    , DoctorNamesTheFault,
    ::testing::Values(
        Fault{"no_ip_rule", "ip -4 rule del fwmark 0x1/0x1 lookup 100", "tproxy.ip_rule.ipv4",
              "FAIL", 3},
        Fault{"no_local_route", "ip -4 route del local 0.0.0.0/0 dev lo table 100",
              "tproxy.local_route.ipv4", "FAIL", 3},
        Fault{
            "mismatched_mark",
            "ip -4 rule del fwmark 0x1/0x1 lookup 100 && ip -4 rule add fwmark 0x4/0x4 lookup 100",
            "tproxy.mark_mismatch.ipv4", "FAIL", 3},
        Fault{"strict_rp_filter_with_spoofing", "sysctl -qw net.ipv4.conf.all.rp_filter=1",
              "rp_filter.veth-s", "warn", 1},
        Fault{"src_valid_mark_with_spoofing", "sysctl -qw net.ipv4.conf.all.src_valid_mark=1",
              "src_valid_mark.veth-s", "FAIL", 3},
        Fault{"forwarding_off", "sysctl -qw net.ipv4.ip_forward=0", "forwarding.ipv4", "warn", 1},
        Fault{"no_spoof_return_rule",
              "iptables -w -t mangle -D PREROUTING -p tcp -m socket --transparent -j MARK "
              "--set-mark 0x1/0x1",
              "spoof.return_rule.ipv4", "FAIL", 3},
        Fault{"no_listener", "stop the proxy", "listener.tcp", "FAIL", 3}),
    [](const auto& testCase) { return testCase.param.name; });

TEST(Doctor, NonTransparentListenerInTproxyModeIsAFailure) {
    if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    NetnsTopology net;
    Process plain =
        net.spawn(net.gateway(), {"socat", "TCP-LISTEN:15002,reuseaddr", "-"}, "/dev/null");
    ASSERT_TRUE(net.waitListening(net.gateway(), 15002));
    auto result =
        net.exec(net.gateway(), std::string(TPLAB_BINARY) + " doctor --mode tproxy --port 15002");
    EXPECT_EQ(result.exitCode, 3) << result.output;
    EXPECT_NE(result.output.find("(socat) listens without IP_TRANSPARENT"), std::string::npos)
        << result.output;
}

// Issue 20: valid set-ups written by hand, not by `tplab rules`. Traffic flows through the proxy,
// and the doctor must read the rules as valid: an nft `table ip` (mark set after `tproxy`) with an
// ip rule `fwmark 0x1/0x1 iif veth-c`; an nft `table ip6` (mark set before `tproxy`) with the
// ip rule's priority written first.
struct HandWritten {
    std::string name;
    Family family;
    std::string nft;
    std::string ipRule;
};

void PrintTo(const HandWritten& setup, std::ostream* out) {
    *out << setup.name;
}

class DoctorReadsHandWrittenRules : public ::testing::TestWithParam<HandWritten> {};

TEST_P(DoctorReadsHandWrittenRules, TrafficFlowsAndNoCheckFails) {
    if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    NetnsTopology net;
    const auto& at = addressesFor(GetParam().family);
    const std::string ip = GetParam().family == Family::Ipv6 ? "ip -6" : "ip -4";
    const std::string file = "/tmp/tplab-doctor-" + std::to_string(::getpid()) + ".nft";
    std::ofstream(file) << GetParam().nft;
    net.mustExec(net.gateway(), "nft -f " + file);
    ::unlink(file.c_str());
    net.mustExec(net.gateway(), ip + " rule add " + GetParam().ipRule);
    net.mustExec(net.gateway(), ip + " route add local " +
                                    (GetParam().family == Family::Ipv6 ? "::/0" : "0.0.0.0/0") +
                                    " dev lo table 100");
    Process server = net.spawn(
        net.server(),
        {"socat", "TCP-LISTEN:80,pf=ip6,ipv6only=0,fork,reuseaddr", "SYSTEM:echo served by server"},
        "/dev/null");
    Process proxy = net.spawn(net.gateway(),
                              {TPLAB_BINARY, "proxy", "--mode", "tproxy", "--listen",
                               "0.0.0.0:15002", "--listen", "[::]:15002"},
                              "/dev/null");
    ASSERT_TRUE(net.waitListening(net.server(), 80));
    ASSERT_TRUE(net.waitListening(net.gateway(), 15002));
    auto served =
        net.exec(net.client(), "socat -T 3 - TCP:" + withPort(at.server, 80) + " </dev/null 2>&1");
    EXPECT_EQ(served.output, "served by server\n") << "the set-up is valid: it intercepts";
    auto doctor = net.exec(net.gateway(),
                           std::string(TPLAB_BINARY) + " doctor --mode tproxy --port 15002 --json");
    auto report = nlohmann::json::parse(doctor.output, nullptr, false);
    ASSERT_FALSE(report.is_discarded()) << doctor.output;
    EXPECT_NE(doctor.exitCode, 3) << report.dump(2);
    const std::string family = GetParam().family == Family::Ipv6 ? "ipv6" : "ipv4";
    std::map<std::string, std::string> severities;
    for (const auto& finding : report["findings"]) {
        severities[finding["id"]] = finding["severity"];
        EXPECT_NE(finding["severity"], "FAIL") << finding.dump();
    }
    EXPECT_EQ(severities["tproxy.ip_rule." + family], "ok") << report.dump(2);
    EXPECT_EQ(severities["tproxy.local_route." + family], "ok") << report.dump(2);
}

INSTANTIATE_TEST_SUITE_P(
    , DoctorReadsHandWrittenRules,
    ::testing::Values(
        HandWritten{"nft_table_ip_and_an_iif_ip_rule", Family::Ipv4,
                    "table ip intercept4 {\n"
                    "  chain prerouting {\n"
                    "    type filter hook prerouting priority mangle; policy accept;\n"
                    "    meta l4proto tcp socket transparent 1 meta mark set 0x1 accept\n"
                    "    iifname \"veth-c\" tcp dport 80 tproxy to :15002 meta mark set 0x1 "
                    "accept\n"
                    "  }\n"
                    "}\n",
                    "fwmark 0x1/0x1 iif veth-c lookup 100"},
        HandWritten{"nft_table_ip6_and_a_priority_first", Family::Ipv6,
                    "table ip6 intercept6 {\n"
                    "  chain prerouting {\n"
                    "    type filter hook prerouting priority mangle; policy accept;\n"
                    "    meta l4proto tcp socket transparent 1 meta mark set 0x1 accept\n"
                    "    iifname \"veth-c\" tcp dport 80 meta mark set 0x1 tproxy to :15002\n"
                    "  }\n"
                    "}\n",
                    "priority 1000 fwmark 0x1/0x1 iif veth-c lookup 100"}),
    [](const auto& testCase) { return testCase.param.name; });

// Issue 20, exercises: --no-fix (and TPLAB_EXERCISE=1) names what is wrong and where to look,
// and never prints the command that fixes it; the normal mode still does.
TEST(Doctor, NoFixSaysWhereToLookButNeverTheFix) {
    if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    NetnsTopology net;  // no rules, no proxy: several failures
    net.mustExec(net.gateway(), "sysctl -qw net.ipv4.conf.all.rp_filter=1");
    const std::string doctor =
        std::string(TPLAB_BINARY) + " doctor --mode tproxy --port 15002 --spoof-source";
    auto normalJson =
        nlohmann::json::parse(net.exec(net.gateway(), doctor + " --json").output, nullptr, false);
    ASSERT_FALSE(normalJson.is_discarded());
    std::vector<std::string> fixes;
    for (const auto& finding : normalJson["findings"]) {
        if (!finding["fix"].get<std::string>().empty()) {
            fixes.push_back(finding["fix"]);
        }
    }
    ASSERT_GE(fixes.size(), 3u) << normalJson.dump(2);
    auto normal = net.exec(net.gateway(), doctor);
    EXPECT_NE(normal.output.find("fix: "), std::string::npos) << normal.output;

    for (const std::string& command : {doctor + " --no-fix", "TPLAB_EXERCISE=1 " + doctor}) {
        auto exercise = net.exec(net.gateway(), command);
        EXPECT_EQ(exercise.exitCode, normal.exitCode) << command;
        EXPECT_EQ(exercise.output.find("fix:"), std::string::npos) << exercise.output;
        EXPECT_NE(exercise.output.find("look: "), std::string::npos) << exercise.output;
        for (const auto& fix : fixes) {
            EXPECT_EQ(exercise.output.find(fix), std::string::npos) << fix << " in\n"
                                                                    << exercise.output;
        }
        auto json = nlohmann::json::parse(net.exec(net.gateway(), command + " --json").output,
                                          nullptr, false);
        ASSERT_FALSE(json.is_discarded()) << command;
        for (const auto& finding : json["findings"]) {
            EXPECT_FALSE(finding.contains("fix")) << finding.dump();
        }
    }
}

// Issue 19 item 5: `--spoof-source` with the kernel documentation's return-path recipe (socket
// match + MARK, no conntrack zone) loses connections whose upstream tuple clashes with the
// client's. The proxy says so at start (and starts), and the doctor too; with `tplab rules
// --spoof-source --mark 2`'s zones neither does.
class SpoofingZone : public ::testing::Test {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        net = std::make_unique<NetnsTopology>();
    }
    // The proxy's log after it has started listening, and the doctor's zone finding.
    std::pair<std::string, std::string> startAndAsk() {
        const std::string log = "/tmp/tplab-zone-" + std::to_string(::getpid()) + ".log";
        Process proxy = net->spawn(net->gateway(),
                                   {TPLAB_BINARY, "proxy", "--mode", "tproxy", "--listen",
                                    "0.0.0.0:15002", "--spoof-source", "--mark", "2"},
                                   log);
        EXPECT_TRUE(net->waitListening(net->gateway(), 15002)) << "it must still start";
        auto doctor = net->exec(net->gateway(), std::string(TPLAB_BINARY) +
                                                    " doctor --mode tproxy --port 15002 "
                                                    "--spoof-source --mark 2 --json");
        proxy.stop();
        std::ifstream in(log);
        std::stringstream text;
        text << in.rdbuf();
        ::unlink(log.c_str());
        std::string severity = "missing";
        auto report = nlohmann::json::parse(doctor.output, nullptr, false);
        for (const auto& finding :
             report.is_discarded() ? nlohmann::json::array() : report["findings"]) {
            if (finding["id"] == "spoof.conntrack_zone.ipv4") {
                severity = finding["severity"];
            }
        }
        return {text.str(), severity};
    }
    std::unique_ptr<NetnsTopology> net;
};

TEST_F(SpoofingZone, TheKernelRecipeWithoutAZoneIsNamedByTheProxyAndTheDoctor) {
    for (const char* rule :
         {"iptables -w -t mangle -N DIVERT",
          "iptables -w -t mangle -A PREROUTING -p tcp -m socket -j DIVERT",
          "iptables -w -t mangle -A DIVERT -j MARK --set-mark 1",
          "iptables -w -t mangle -A DIVERT -j ACCEPT",
          "iptables -w -t mangle -A PREROUTING -i veth-c -p tcp --dport 80 -j TPROXY "
          "--tproxy-mark 0x1/0x1 --on-port 15002",
          "ip -4 rule add fwmark 1 lookup 100",
          "ip -4 route add local 0.0.0.0/0 dev lo table 100"}) {
        net->mustExec(net->gateway(), rule);
    }
    auto [log, severity] = startAndAsk();
    EXPECT_NE(log.find("warning: --spoof-source --mark 0x2: no conntrack zone rule matches mark "
                       "0x2 (IPv4)"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("docs/full-transparency.md#the-fix"), std::string::npos) << log;
    EXPECT_EQ(severity, "warn");
}

TEST_F(SpoofingZone, TplabRulesZonesSilenceTheWarning) {
    net->mustExec(net->gateway(), std::string(TPLAB_BINARY) +
                                      " rules --apply --mode tproxy --port 15002 --dport 80 "
                                      "--in-interface veth-c --spoof-source --mark 2");
    auto [log, severity] = startAndAsk();
    EXPECT_EQ(log.find("conntrack zone"), std::string::npos) << log;
    EXPECT_EQ(severity, "ok");
}

}  // namespace
}  // namespace tplab::test
