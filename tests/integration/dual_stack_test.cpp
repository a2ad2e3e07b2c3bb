// One dual-stack [::] listener in each mode serves IPv4 clients (as ::ffff:a.b.c.d) and IPv6
// clients, with the rules from `tplab rules`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "process.hpp"
#include "web_topology.hpp"

namespace tplab::test {
namespace {

class DualStackListener : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        web = std::make_unique<WebTopology>("dual");
        net = &web->net();
        workdir = web->workdir();
        net->mustExec(net->gateway(), std::string(TPLAB_BINARY) + " rules --apply --mode " +
                                          GetParam() +
                                          " --port 15001 --in-interface veth-c --dport 80");
        proxy = net->spawn(net->gateway(),
                           {TPLAB_BINARY, "proxy", "--mode", GetParam(), "--listen", "[::]:15001",
                            "--events", workdir + "/events.jsonl"},
                           workdir + "/proxy.log");
        ASSERT_TRUE(net->waitListening(net->gateway(), 15001));
    }
    void TearDown() override {
        proxy.stop();
        if (net) {  // also forgets the state --apply kept for this namespace
            net->exec(net->gateway(), std::string(TPLAB_BINARY) + " rules --remove --mode " +
                                          GetParam() +
                                          " --port 15001 --in-interface veth-c --dport 80");
        }
        web.reset();
    }
    std::string events() { return web->readFile("events.jsonl"); }
    std::unique_ptr<WebTopology> web;
    NetnsTopology* net = nullptr;
    std::string workdir;
    Process proxy;
};

TEST_P(DualStackListener, ServesIpv4AndIpv6ClientsOnOneSocket) {
    auto v4 = net->exec(net->client(), "curl -sS --max-time 5 http://198.51.100.2/index.html");
    auto v6 = net->exec(net->client(), "curl -sS --max-time 5 http://[2001:db8:2::2]/index.html");
    EXPECT_EQ(v4.output, "served by server\n") << runShell("cat " + workdir + "/proxy.log").output;
    EXPECT_EQ(v6.output, "served by server\n");
    std::string log = events();
    EXPECT_NE(log.find("\"client\":\"192.0.2.2:"), std::string::npos)
        << "the IPv4-mapped client is shown as plain IPv4:\n"
        << log;
    EXPECT_NE(log.find("\"original_dst\":\"198.51.100.2:80\""), std::string::npos) << log;
    EXPECT_NE(log.find("\"original_dst\":\"[2001:db8:2::2]:80\""), std::string::npos) << log;
    if (GetParam() == "redirect") {
        EXPECT_NE(log.find("\"recovered_by\":\"SO_ORIGINAL_DST\""), std::string::npos) << log;
        EXPECT_NE(log.find("\"recovered_by\":\"IP6T_SO_ORIGINAL_DST\""), std::string::npos) << log;
    }
}

INSTANTIATE_TEST_SUITE_P(, DualStackListener, ::testing::Values("redirect", "tproxy"),
                         [](const auto& testCase) { return testCase.param; });

}  // namespace
}  // namespace tplab::test
