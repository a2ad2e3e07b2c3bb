// --spoof-source under port collisions: with 16 ephemeral ports on both sides, the proxy's
// spoofed upstreams and the client's own flows to one server share 4-tuples all the time
// (docs/full-transparency.md, "Port collisions"). With the zone rules and the loop guard fixed,
// no flow may be lost. Disabled until the session skips the pair guard for spoofed upstreams
// under --mark (part 2 of the fix); today it loses about a third of the flows (loop_refused).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>

#include "gateway_lab.hpp"
#include "proxy_probe.hpp"

namespace tplab::test {
namespace {

struct CollisionCase {
    std::string mode;
    Family family;
};

class SpoofedPortCollisions : public ::testing::TestWithParam<CollisionCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        lab = std::make_unique<GatewayLab>(GetParam().mode, GetParam().family, true,
                                           ProxyLaunch{{}, {"--mark", "2"}});
        for (const auto& ns : {lab->net().client(), lab->net().gateway()}) {
            lab->net().mustExec(ns, "sysctl -qw net.ipv4.ip_local_port_range=\"40000 40015\"");
        }
        // Part 1 of the fix, the conntrack zones, comes with GatewayLab's spoofing rules.
        server = lab->net().spawn(
            lab->net().server(),
            {"python3", std::string(TPLAB_TEST_TOOLS) + "/load_peer.py", "serve", "--port",
             std::to_string(kLoadPort), "--results", lab->workdir() + "/load-server.jsonl"},
            lab->workdir() + "/load-server.log");
        ASSERT_TRUE(lab->net().waitListening(lab->net().server(), kLoadPort));
    }
    std::unique_ptr<GatewayLab> lab;
    Process server;
};

TEST_P(SpoofedPortCollisions, NoFlowIsLostWhenUpstreamAndClientShareATuple) {
    auto run = lab->net().exec(
        lab->net().client(),
        "timeout 120 python3 " + std::string(TPLAB_TEST_TOOLS) + "/load_peer.py run --target " +
            withPort(lab->addresses().server, kLoadPort) + " --server-results " + lab->workdir() +
            "/load-server.jsonl --flows 12 --max-size 1048576 --slow-readers 12" +
            " --flow-timeout 20 --server-wait 3 2>/dev/null");
    auto summary = nlohmann::json::parse(run.output, nullptr, false);
    ASSERT_FALSE(summary.is_discarded()) << run.output;
    auto stats = waitUntilIdle(*lab, std::chrono::seconds(30));
    EXPECT_EQ(summary["failed"], 0) << summary.dump() << "\n" << stats.dump();
    EXPECT_EQ(stats["closed"]["normal"], 12) << stats.dump();
}

INSTANTIATE_TEST_SUITE_P(, SpoofedPortCollisions,
                         ::testing::Values(CollisionCase{"redirect", Family::Ipv4},
                                           CollisionCase{"redirect", Family::Ipv6},
                                           CollisionCase{"tproxy", Family::Ipv4},
                                           CollisionCase{"tproxy", Family::Ipv6}),
                         [](const auto& testCase) {
                             return testCase.param.mode +
                                    (testCase.param.family == Family::Ipv4 ? "_ipv4" : "_ipv6");
                         });

}  // namespace
}  // namespace tplab::test
