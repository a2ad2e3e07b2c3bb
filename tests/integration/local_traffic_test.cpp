// The gateway's own traffic: intercepted in both modes with `tplab rules --local`, and, when the
// rule that exempts the proxy's own connections is missing, the loop guard stops the loop: the
// proxy survives and its file descriptors stay bounded.
#include <dirent.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "process.hpp"
#include "web_topology.hpp"

namespace tplab::test {
namespace {

int openFds(pid_t pid) {
    int count = 0;
    if (DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (::readdir(dir) != nullptr)
            ++count;
        ::closedir(dir);
    }
    return count - 2;  // . and ..
}

class LocalTraffic : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        web = std::make_unique<WebTopology>("local");
        net = &web->net();
        workdir = web->workdir();
        net->mustExec(net->gateway(), std::string(TPLAB_BINARY) +
                                          " rules --apply --local --ipv4 --mode " + GetParam() +
                                          " --port 15001 --dport 80 --mark 2");
        proxy = net->spawn(net->gateway(),
                           {TPLAB_BINARY, "proxy", "--mode", GetParam(), "--listen",
                            "0.0.0.0:15001", "--mark", "2", "--events", workdir + "/events.jsonl"},
                           workdir + "/proxy.log");
        ASSERT_TRUE(net->waitListening(net->gateway(), 15001));
    }
    void TearDown() override {
        proxy.stop();
        if (net) {  // also forgets the state --apply kept for this namespace
            net->exec(net->gateway(), std::string(TPLAB_BINARY) +
                                          " rules --remove --local --ipv4 --mode " + GetParam() +
                                          " --port 15001 --dport 80 --mark 2");
        }
        web.reset();
    }
    std::string events() { return web->readFile("events.jsonl"); }
    CommandResult curlFromGateway() {
        return net->exec(net->gateway(), "curl -sS --max-time 5 http://198.51.100.2/index.html");
    }
    std::unique_ptr<WebTopology> web;
    NetnsTopology* net = nullptr;
    std::string workdir;
    Process proxy;
};

TEST_P(LocalTraffic, GatewaysOwnConnectionIsInterceptedWithoutLooping) {
    auto curl = curlFromGateway();
    EXPECT_EQ(curl.output, "served by server\n")
        << runShell("cat " + workdir + "/proxy.log").output;
    std::string log = events();
    EXPECT_NE(log.find("\"original_dst\":\"198.51.100.2:80\""), std::string::npos) << log;
    EXPECT_EQ(log.find("loop_refused"), std::string::npos) << "--mark 2 is exempted:\n" << log;
}

TEST_P(LocalTraffic, WithoutTheExemptionTheLoopGuardStopsTheLoopAndFdsStayBounded) {
    // Remove only the RETURN rule for the proxy's mark: now its own upstream connection is
    // intercepted again, by the very rule that intercepted the gateway's request.
    const std::string table = GetParam() == "tproxy" ? "mangle" : "nat";
    net->mustExec(net->gateway(),
                  "iptables -w -t " + table + " -D OUTPUT -p tcp -m mark --mark 0x2 -j RETURN");
    int before = openFds(proxy.pid());
    for (int i = 0; i < 20; ++i) {
        curlFromGateway();
    }
    std::string log = events();
    EXPECT_NE(log.find("loop_refused"), std::string::npos) << log;
    EXPECT_NE(log.find("intercepted again"), std::string::npos) << log;
    ::usleep(300 * 1000);
    int after = openFds(proxy.pid());
    EXPECT_LE(after, before + 4) << "file descriptors grew from " << before << " to " << after;
    EXPECT_EQ(::kill(proxy.pid(), 0), 0) << "the proxy must survive";
    // --apply again puts back just the missing rule; the proxy, unharmed, serves at once.
    auto reapplied = net->exec(net->gateway(),
                               std::string(TPLAB_BINARY) + " rules --apply --local --ipv4 --mode " +
                                   GetParam() + " --port 15001 --dport 80 --mark 2");
    EXPECT_NE(reapplied.output.find("+ iptables -w -t " + table + " -A OUTPUT -p tcp -m mark"),
              std::string::npos)
        << reapplied.output;
    EXPECT_EQ(curlFromGateway().output, "served by server\n");
}

INSTANTIATE_TEST_SUITE_P(, LocalTraffic, ::testing::Values("redirect", "tproxy"),
                         [](const auto& testCase) { return testCase.param; });

}  // namespace
}  // namespace tplab::test
