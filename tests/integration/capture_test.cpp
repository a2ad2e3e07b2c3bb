// `tplab capture` in real namespaces: it is capturing when it says it is ready, so the first
// SYN of a connection started right then is in every file; the files open in tcpdump.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "packet.hpp"
#include "process.hpp"
#include "web_topology.hpp"

namespace tplab::test {
namespace {

class CaptureInNamespaces : public ::testing::Test {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        web = std::make_unique<WebTopology>("capture");
        net = &web->net();
        workdir = web->workdir();
    }
    void TearDown() override { web.reset(); }

    Process startCapture(const std::string& out, const std::vector<std::string>& extra = {}) {
        std::vector<std::string> argv = {TPLAB_BINARY,   "capture",
                                         "--at",         net->client() + ":eth0",
                                         "--at",         net->gateway() + ":veth-c",
                                         "--at",         net->gateway() + ":veth-s",
                                         "--at",         net->server() + ":eth0",
                                         "-o",           out,
                                         "--ready-file", out + "/ready"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        std::filesystem::create_directories(out);
        return Process(argv, out + "/capture.log");
    }
    bool waitForFile(const std::string& path) {
        for (int i = 0; i < 500 && !std::filesystem::exists(path); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return std::filesystem::exists(path);
    }
    std::string pcap(const std::string& out, const std::string& ns, const std::string& device) {
        return out + "/" + ns + "-" + device + ".pcap";
    }

    std::unique_ptr<WebTopology> web;
    NetnsTopology* net = nullptr;
    std::string workdir;
};

TEST_F(CaptureInNamespaces, FirstSynIsCapturedAtEveryPointWhenTrafficStartsAtReady) {
    for (int round = 0; round < 5; ++round) {
        std::string out = workdir + "/round" + std::to_string(round);
        Process capture = startCapture(out, {"-f", "tcp port 80"});
        ASSERT_TRUE(waitForFile(out + "/ready")) << runShell("cat " + out + "/capture.log").output;
        auto curl =
            net->exec(net->client(), "curl -sS --max-time 5 -o /dev/null http://198.51.100.2/");
        ASSERT_EQ(curl.exitCode, 0) << curl.output;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        capture.signal(SIGTERM);
        ASSERT_EQ(capture.wait(std::chrono::seconds(5)), 0);

        for (const auto& [ns, device] : {std::pair{net->client(), "eth0"},
                                         {net->gateway(), "veth-c"},
                                         {net->gateway(), "veth-s"},
                                         {net->server(), "eth0"}}) {
            auto packets = readPcapFile(pcap(out, ns, device));
            ASSERT_FALSE(packets.empty()) << ns << ":" << device;
            EXPECT_TRUE(packets.front().has(tcp_flag::kSyn) && !packets.front().has(tcp_flag::kAck))
                << "round " << round << ", " << ns << ":" << device << ": first packet is "
                << tcpFlagsText(packets.front().tcpFlags) << ", the SYN was lost";
            EXPECT_EQ(packets.front().source.addressString(), "192.0.2.2");
        }
        auto summary = runShell("cat " + out + "/capture.log").output;
        EXPECT_NE(summary.find("dropped"), std::string::npos) << summary;
    }
}

TEST_F(CaptureInNamespaces, FilesAreStandardPcapThatTcpdumpReads) {
    std::string out = workdir + "/std";
    Process capture = startCapture(out);
    ASSERT_TRUE(waitForFile(out + "/ready"));
    net->exec(net->client(), "curl -sS --max-time 5 -o /dev/null http://198.51.100.2/");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    capture.signal(SIGINT);
    ASSERT_EQ(capture.wait(std::chrono::seconds(5)), 0);
    auto read = runShell("tcpdump -nr " + pcap(out, net->server(), "eth0") + " tcp");
    EXPECT_EQ(read.exitCode, 0) << read.output;
    EXPECT_NE(read.output.find("198.51.100.2.80"), std::string::npos) << read.output;
}

TEST_F(CaptureInNamespaces, StopsByItselfAfterCountPacketsPerPoint) {
    std::string out = workdir + "/count";
    Process capture = startCapture(out, {"--count", "3", "-f", "tcp"});
    ASSERT_TRUE(waitForFile(out + "/ready"));
    net->exec(net->client(), "curl -sS --max-time 5 -o /dev/null http://198.51.100.2/");
    EXPECT_EQ(capture.wait(std::chrono::seconds(10)), 0) << "did not stop after --count";
    EXPECT_EQ(readPcapFile(pcap(out, net->client(), "eth0")).size(), 3u);
}

TEST_F(CaptureInNamespaces, UnknownInterfaceIsAOneLineSetupError) {
    auto result = runShell(std::string(TPLAB_BINARY) + " capture --at " + net->client() +
                           ":nosuch0 -o " + workdir);
    EXPECT_EQ(result.exitCode, 1) << result.output;
    EXPECT_NE(result.output.find("no such interface"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace tplab::test
