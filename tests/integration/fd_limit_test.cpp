// RLIMIT_NOFILE: the proxy raises its soft limit to the hard one and fits --max-connections in
// it. Under a stock Debian limit of 1,024 a relay that did neither reset most of 1,500 flows.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway_lab.hpp"

namespace tplab::test {
namespace {

constexpr int kHoldEchoPort = kClosedPort;  // intercepted; in these tests an echo server sits there

std::string holdFlows() {
    return std::string(TPLAB_TEST_TOOLS) + "/hold_flows.py";
}

struct FdLimitTest : ::testing::Test {
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
    }
    void startEchoServer(GatewayLab& lab) {
        echo_ = lab.net().spawn(lab.net().server(),
                                {"python3", holdFlows(), "server", std::to_string(kHoldEchoPort)},
                                lab.workdir() + "/hold-echo.log");
        ASSERT_TRUE(lab.net().waitListening(lab.net().server(), kHoldEchoPort));
    }
    nlohmann::json runFlows(GatewayLab& lab, int count, bool hold) {
        auto result = lab.net().exec(
            lab.net().client(), "python3 " + holdFlows() + " client " + lab.addresses().server +
                                    " " + std::to_string(kHoldEchoPort) + " " +
                                    std::to_string(count) + (hold ? " --hold" : ""));
        auto summary = nlohmann::json::parse(result.output, nullptr, false);
        EXPECT_FALSE(summary.is_discarded()) << result.output;
        return summary;
    }
    Process echo_;
};

TEST_F(FdLimitTest, UnderAHardLimitOf1024TheDefaultIsLoweredWithAWarningAndNoFlowIsReset) {
    // One client makes every flow: lift the per-client limit (1/8 of the total by default).
    GatewayLab lab(
        "tproxy", Family::Ipv4, false,
        {{"prlimit", "--nofile=1024:1024", "--"}, {"--max-connections-per-client", "1048576"}});
    startEchoServer(lab);
    auto summary = runFlows(lab, 1500, /*hold=*/false);
    EXPECT_EQ(summary.value("ok", 0), 1500) << summary.dump() << "\n" << lab.proxyLog();
    EXPECT_EQ(summary.value("reset", -1), 0) << summary.dump();
    EXPECT_NE(lab.proxyLog().find("lowering --max-connections to"), std::string::npos)
        << lab.proxyLog();
}

TEST_F(FdLimitTest, WithAHardLimitThatFits1500ConcurrentFlowsAreAllHeldAtOnce) {
    GatewayLab lab("tproxy", Family::Ipv4, false,
                   {{"prlimit", "--nofile=1024:8192", "--"},
                    {"--max-connections", "2000", "--max-connections-per-client", "2000"}});
    startEchoServer(lab);
    auto summary = runFlows(lab, 1500, /*hold=*/true);
    EXPECT_EQ(summary.value("ok", 0), 1500) << summary.dump() << "\n" << lab.proxyLog();
    EXPECT_EQ(lab.proxyLog().find("warning"), std::string::npos) << lab.proxyLog();
}

TEST_F(FdLimitTest, AConnectionLimitThatCannotFitIsAOneLineErrorAtStart) {
    auto result = runShell(std::string("prlimit --nofile=1024:1024 -- ") + TPLAB_BINARY +
                           " proxy --mode redirect --listen 127.0.0.1:15999"
                           " --max-connections 1500 2>&1; echo \"exit=$?\"");
    EXPECT_NE(result.output.find("exit=1"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("--max-connections 1500 needs at least"), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("hard limit (ulimit -Hn) is 1024"), std::string::npos)
        << result.output;
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 2) << result.output;
}

}  // namespace
}  // namespace tplab::test
