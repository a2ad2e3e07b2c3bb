// `tplab doctor` on a gateway set up by `tplab rules` for TPROXY with spoofing, then broken on
// purpose one fault at a time: the doctor must name each fault, and its exit code must reflect
// the worst finding.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>

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

}  // namespace
}  // namespace tplab::test
