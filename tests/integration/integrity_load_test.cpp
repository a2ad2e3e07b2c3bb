// Integrity under load: many concurrent flows through the proxy in both directions at once,
// every byte sha256-checked, with resets, half-closes, aborts and slow readers mixed in; then the
// proxy still serves, counted every connection, and gave back its fds and memory.
// Sizes and counts come from the environment (docs/reliability.md has the full-size command).
#include <gtest/gtest.h>

#include <thread>

#include <nlohmann/json.hpp>

#include <memory>
#include <sstream>
#include <vector>

#include "gateway_lab.hpp"
#include "proxy_probe.hpp"

namespace tplab::test {
namespace {

// What the proxy logged about each failed flow: the lines that name its client port.
std::string proxyLinesAboutFailures(const std::string& log, const nlohmann::json& summary) {
    std::string found;
    for (const auto& failure : summary.value("failures", nlohmann::json::array())) {
        if (!failure.contains("client_port") || !failure["client_port"].is_number()) {
            continue;
        }
        std::string port = ":" + std::to_string(failure["client_port"].get<int>()) + " ";
        std::istringstream lines(log);
        for (std::string line; std::getline(lines, line);) {
            if (line.find(port) != std::string::npos) {
                found += line + "\n";
            }
        }
    }
    return found.empty() ? "(the proxy logged nothing about the failed flows' ports)\n" : found;
}

struct LoadCase {
    std::string mode;
    Family family;
    bool spoof;
};

struct LoadSettings {
    long long flows = envInt("TPLAB_LOAD_FLOWS", 250);
    long long maxSize = envInt("TPLAB_LOAD_MAX_SIZE", 8LL << 20);
    long long rounds = envInt("TPLAB_LOAD_ROUNDS", 2);
    long long seed = envInt("TPLAB_LOAD_SEED", 1);
};

// malloc keeps freed memory: after the first round RSS may stay up to what every flow's relay
// buffers took at once (2 x 64 KiB each) above the baseline, plus this. After that it must not
// grow from one round to the next by more than this: that would be a leak.
constexpr std::size_t kRssSlackKiB = 8 * 1024;
constexpr std::size_t kRelayBuffersKiB = 2 * 64;

class IntegrityUnderLoad : public ::testing::TestWithParam<LoadCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        const auto& param = GetParam();
        lab = std::make_unique<GatewayLab>(param.mode, param.family, param.spoof);
        // Room for 2 sockets per flow but not for every flow's pipes as well: set after start,
        // under what the proxy planned for, so the load also runs through fd shortages
        // (`upstream_fd_shortages`), which must cost waiting, never a flow.
        long long needed = 2 * settings.flows + 64;
        runShell("prlimit --pid " + std::to_string(lab->proxy().pid()) +
                 " --nofile=" + std::to_string(needed) + ":" + std::to_string(needed));
        server = lab->net().spawn(lab->net().server(),
                                  {"python3", peer(), "serve", "--port", std::to_string(kLoadPort),
                                   "--results", serverResults()},
                                  lab->workdir() + "/load-server.log");
        ASSERT_TRUE(lab->net().waitListening(lab->net().server(), kLoadPort));
    }

    static std::string peer() { return std::string(TPLAB_TEST_TOOLS) + "/load_peer.py"; }
    std::string serverResults() const { return lab->workdir() + "/load-server.jsonl"; }

    // Runs `flows` flows from the client namespace; returns load_peer's summary.
    nlohmann::json runFlows(long long flows, long long maxSize, long long firstId, long long seed) {
        std::ostringstream command;
        command << "timeout 600 python3 " << peer() << " run --target "
                << withPort(lab->addresses().server, kLoadPort) << " --server-results "
                << serverResults() << " --flows " << flows << " --max-size " << maxSize
                << " --first-id " << firstId << " --seed " << seed << " 2>>" << lab->workdir()
                << "/load-client.log";
        auto result = lab->net().exec(lab->net().client(), command.str());
        auto summary = nlohmann::json::parse(result.output, nullptr, false);
        if (summary.is_discarded()) {
            ADD_FAILURE() << "load_peer.py printed no summary (exit " << result.exitCode
                          << "): " << result.output;
            return nlohmann::json::object();
        }
        return summary;
    }

    LoadSettings settings;
    std::unique_ptr<GatewayLab> lab;
    Process server;
};

TEST_P(IntegrityUnderLoad, EveryFlowArrivesIntactAndTheProxyGivesBackWhatItTook) {
    pid_t proxy = lab->proxy().pid();
    // A small warm-up first, so the baseline includes what the first connections allocate once.
    auto warmUp = runFlows(10, 64 << 10, 0, 99);
    ASSERT_EQ(warmUp.value("failed", -1), 0) << warmUp.dump();
    ASSERT_EQ(waitUntilIdle(*lab, std::chrono::seconds(30))["active"], 0);
    // The relay's pools give their pipes back within a sweep (< 250 ms) of going idle.
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    std::size_t baselineFds = openFdCount(proxy);
    std::size_t baselineRss = residentKiB(proxy);

    long long flows = 0, bytes = 0, checked = 0;
    std::vector<std::size_t> rssAfterRound;
    for (long long round = 0; round < settings.rounds; ++round) {
        auto summary = runFlows(settings.flows, settings.maxSize, 1000 + round * settings.flows,
                                settings.seed + round);
        ASSERT_EQ(summary.value("failed", -1), 0)
            << summary.dump(1) << "\n"
            << proxyLinesAboutFailures(lab->proxyLog(), summary);
        flows += summary["flows"].get<long long>();
        bytes += summary["bytes_up"].get<long long>() + summary["bytes_down"].get<long long>();
        checked += summary["sha_checked"].get<long long>();
        ASSERT_EQ(waitUntilIdle(*lab, std::chrono::seconds(30))["active"], 0);
        rssAfterRound.push_back(residentKiB(proxy));
        std::cout << "round " << round << ": " << summary.dump() << ", RSS " << rssAfterRound.back()
                  << " KiB\n";
    }

    auto stats = waitUntilIdle(*lab, std::chrono::seconds(30));
    ASSERT_FALSE(stats.is_null()) << "no stats event after SIGUSR1";
    EXPECT_EQ(stats["active"], 0) << stats.dump();
    EXPECT_EQ(unaccountedConnections(stats), 0) << "accepted != sum of closed: " << stats.dump();
    EXPECT_EQ(stats["accepted"].get<long long>(), flows + 10) << stats.dump();
    // Every flow we counted as intact was closed normally by the proxy; the resets, aborts and
    // nothing else account for the rest.
    EXPECT_EQ(stats["closed"]["connect_refused"], 0) << stats.dump();
    EXPECT_EQ(stats["closed"]["connect_timeout"], 0) << stats.dump();
    EXPECT_EQ(stats["closed"]["connect_failed"], 0) << stats.dump();

    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    EXPECT_EQ(openFdCount(proxy), baselineFds) << "fds leaked";
    std::size_t rss = residentKiB(proxy);
    EXPECT_LE(
        rssAfterRound.front(),
        baselineRss + kRssSlackKiB + kRelayBuffersKiB * static_cast<std::size_t>(settings.flows))
        << "RSS " << rssAfterRound.front() << " KiB after the first round, " << baselineRss
        << " KiB before";
    EXPECT_LE(rss, rssAfterRound.front() + kRssSlackKiB)
        << "RSS grew from " << rssAfterRound.front() << " KiB after the first round to " << rss
        << " KiB after " << settings.rounds << ": a leak";

    auto fresh = runFlows(1, 1 << 20, 900, 7);
    EXPECT_EQ(fresh.value("failed", -1), 0) << "a fresh connection after the load: " << fresh;
    std::cout << "flows " << flows << ", bytes " << bytes << ", sha256 checks " << checked
              << ", fds " << baselineFds << " -> " << openFdCount(proxy) << ", RSS " << baselineRss
              << " -> " << rss << " KiB, upstream_fd_shortages " << stats["upstream_fd_shortages"]
              << ", closed " << stats["closed"].dump() << "\n";
}

INSTANTIATE_TEST_SUITE_P(, IntegrityUnderLoad,
                         ::testing::Values(LoadCase{"redirect", Family::Ipv4, false},
                                           LoadCase{"redirect", Family::Ipv6, false},
                                           LoadCase{"tproxy", Family::Ipv4, false},
                                           LoadCase{"tproxy", Family::Ipv6, false},
                                           LoadCase{"redirect", Family::Ipv4, true},
                                           LoadCase{"redirect", Family::Ipv6, true},
                                           LoadCase{"tproxy", Family::Ipv4, true},
                                           LoadCase{"tproxy", Family::Ipv6, true}),
                         [](const auto& testCase) {
                             const auto& param = testCase.param;
                             return param.mode +
                                    (param.family == Family::Ipv4 ? "_ipv4" : "_ipv6") +
                                    (param.spoof ? "_spoofed" : "");
                         });

}  // namespace
}  // namespace tplab::test
