// Faults: the proxy short of file descriptors, an upstream that drops or refuses, the proxy
// killed mid-transfer or stopped with open connections, a full conntrack table. What the client
// sees in each case, and that the proxy keeps (or stops) serving the way it should.
#include <gtest/gtest.h>

#include <signal.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

#include "gateway_lab.hpp"
#include "proxy_probe.hpp"

namespace tplab::test {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::string peer() {
    return std::string(TPLAB_TEST_TOOLS) + "/load_peer.py";
}

double secondsSince(SteadyClock::time_point start) {
    return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

std::string lastLine(const std::string& path) {
    std::ifstream in(path);
    std::string line, last;
    while (std::getline(in, line)) {
        if (!line.empty()) {
            last = line;
        }
    }
    return last;
}

struct FaultCase {
    std::string mode;
    Family family;
};

std::string caseName(const ::testing::TestParamInfo<FaultCase>& info) {
    return info.param.mode + (info.param.family == Family::Ipv4 ? "_ipv4" : "_ipv6");
}

const auto kAllCases =
    ::testing::Values(FaultCase{"redirect", Family::Ipv4}, FaultCase{"redirect", Family::Ipv6},
                      FaultCase{"tproxy", Family::Ipv4}, FaultCase{"tproxy", Family::Ipv6});

class Faults : public ::testing::TestWithParam<FaultCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
    }

    void startLab(std::vector<std::string> extraProxyArgs = {}) {
        lab = std::make_unique<GatewayLab>(GetParam().mode, GetParam().family, false,
                                           ProxyLaunch{{}, std::move(extraProxyArgs)});
    }

    void startLoadServer() {
        loadServer = lab->net().spawn(lab->net().server(),
                                      {"python3", peer(), "serve", "--port",
                                       std::to_string(kLoadPort), "--results", serverResults()},
                                      lab->workdir() + "/load-server.log");
        ASSERT_TRUE(lab->net().waitListening(lab->net().server(), kLoadPort));
    }

    std::string serverResults() const { return lab->workdir() + "/load-server.jsonl"; }

    // load_peer.py in the background, from the client namespace; its summary is the log's
    // last line.
    Process startFlows(const std::vector<std::string>& options, const std::string& log) {
        std::vector<std::string> argv = {"timeout",
                                         "120",
                                         "python3",
                                         peer(),
                                         "run",
                                         "--target",
                                         withPort(lab->addresses().server, kLoadPort),
                                         "--server-results",
                                         serverResults()};
        argv.insert(argv.end(), options.begin(), options.end());
        return lab->net().spawn(lab->net().client(), argv, log);
    }

    // What a client connecting to `port` on the server sees first, and after how long.
    std::pair<std::string, double> probeServer(int port) {
        auto result =
            lab->net().exec(lab->net().client(), "python3 " + peer() + " probe --target " +
                                                     withPort(lab->addresses().server, port));
        auto seen = nlohmann::json::parse(result.output, nullptr, false);
        if (seen.is_discarded()) {
            return {"no answer from the probe: " + result.output, -1};
        }
        return {seen["seen"].get<std::string>(), seen["seconds"].get<double>()};
    }

    bool freshConnectionWorks() {
        auto curl = lab->net().exec(
            lab->net().client(),
            "curl -sS --max-time 5 http://" + withPort(lab->addresses().server, kHttpPort) + "/");
        return curl.output == "served by server\n";
    }

    std::unique_ptr<GatewayLab> lab;
    Process loadServer;
};

// With 64 fds the proxy can hold about 30 connections. A flood of 300 held connections: accept()
// fails with EMFILE, the proxy backs off instead of spinning, and serves again afterwards.
TEST_P(Faults, FdExhaustionShedsLoadWithoutSpinningAndRecovers) {
    startLab();
    pid_t proxy = lab->proxy().pid();
    auto limited = runShell("prlimit --pid " + std::to_string(proxy) + " --nofile=64:64");
    ASSERT_EQ(limited.exitCode, 0) << limited.output;

    std::string flood = lab->workdir() + "/flood.py";
    std::ofstream(flood) << "import socket, sys, time\n"
                            "host, port, count, hold = sys.argv[1], int(sys.argv[2]), "
                            "int(sys.argv[3]), float(sys.argv[4])\n"
                            "held = []\n"
                            "for _ in range(count):\n"
                            "    s = socket.socket(socket.AF_INET6 if ':' in host else "
                            "socket.AF_INET)\n"
                            "    s.setblocking(False)\n"
                            "    try: s.connect((host, port))\n"
                            "    except BlockingIOError: pass\n"
                            "    held.append(s)\n"
                            "time.sleep(hold)\n";
    double cpuBefore = cpuSeconds(proxy);
    auto start = SteadyClock::now();
    auto flooded =
        lab->net().exec(lab->net().client(), "python3 " + flood + " " + lab->addresses().server +
                                                 " " + std::to_string(kEchoPort) + " 300 4");
    ASSERT_EQ(flooded.exitCode, 0) << flooded.output;
    double wall = secondsSince(start);
    double cpu = cpuSeconds(proxy) - cpuBefore;

    ASSERT_EQ(::kill(proxy, 0), 0) << "the proxy died under fd exhaustion: " << lab->proxyLog();
    auto stats = waitUntilIdle(*lab, 30s);
    ASSERT_FALSE(stats.is_null());
    // Short of fds, accept() fails (EMFILE: the client waits in the backlog) or the upstream
    // socket() does (the accepted client waits for an fd). Either way the flood must have hit,
    // and either way the clients wait rather than being reset: the hold (4 s) ends within the
    // connect timeout (5 s), so fds come back in time for all but a straggler or two.
    EXPECT_GT(
        stats["accept_errors"].get<long long>() + stats["upstream_fd_shortages"].get<long long>(),
        0)
        << "the flood should have exhausted the fds: " << stats.dump();
    EXPECT_LT(stats["closed"]["connect_failed"].get<long long>(), 15)
        << "clients were reset for want of an fd instead of waiting: " << stats.dump();
    // A spinning loop would burn its whole share of a core; backing off costs almost nothing.
    EXPECT_LT(cpu, 0.05 * wall) << "cpu " << cpu << " s over " << wall << " s of flood";
    EXPECT_EQ(unaccountedConnections(stats), 0) << stats.dump();
    EXPECT_TRUE(freshConnectionWorks()) << lab->proxyLog().substr(0, 3000);
    std::cout << "flood of 300 at 64 fds: proxy cpu " << cpu << " s over " << wall
              << " s, accept_errors " << stats["accept_errors"] << ", upstream_fd_shortages "
              << stats["upstream_fd_shortages"] << ", closed " << stats["closed"].dump() << "\n";
}

// The upstream refuses (nothing listens) or drops the SYN: the client gets a reset, within the
// connect timeout, and the `closed` event says why.
TEST_P(Faults, UnreachableOrRefusingUpstreamResetsTheClientWithTheReason) {
    startLab({"--connect-timeout", "1"});
    auto [refused, refusedSeconds] = probeServer(kClosedPort);
    EXPECT_EQ(refused, "reset");
    EXPECT_LT(refusedSeconds, 1.0);

    std::string iptables = GetParam().family == Family::Ipv4 ? "iptables" : "ip6tables";
    lab->net().mustExec(lab->net().server(), iptables + " -A INPUT -p tcp --dport " +
                                                 std::to_string(kEchoPort) + " -j DROP");
    auto [dropped, droppedSeconds] = probeServer(kEchoPort);
    EXPECT_EQ(dropped, "reset");
    EXPECT_GE(droppedSeconds, 0.9);
    EXPECT_LT(droppedSeconds, 3.0) << "the reset should come at the 1 s connect timeout";

    auto closed = lab->events("closed", 2);
    ASSERT_EQ(closed.size(), 2u);
    EXPECT_EQ(closed[0]["reason"], "connect_refused") << closed[0];
    EXPECT_EQ(closed[1]["reason"], "connect_timeout") << closed[1];
    std::cout << "refused: " << refused << " after " << refusedSeconds << " s; dropped: " << dropped
              << " after " << droppedSeconds << " s\n";
}

// SIGKILL in the middle of 40 transfers: the kernel closes the proxy's sockets, every client
// sees a reset or an early EOF, and none waits for its timeout.
TEST_P(Faults, KilledProxyLeavesClientsWithResetsNotHangs) {
    startLab();
    startLoadServer();
    std::string log = lab->workdir() + "/flows.log";
    auto flows = startFlows({"--flows", "40", "--min-size", "1048576", "--max-size", "4194304",
                             "--slow-readers", "10", "--server-reset", "0", "--client-abort", "0",
                             "--flow-timeout", "60", "--server-wait", "2"},
                            log);
    // Wait until the transfers are under way (the proxy has accepted them all).
    auto deadline = SteadyClock::now() + 20s;
    while (lab->events("connected").size() < 40 && SteadyClock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(lab->events("connected").size(), 40u);
    lab->proxy().signal(SIGKILL);
    auto killedAt = SteadyClock::now();
    EXPECT_EQ(flows.wait(30s), 1) << "load_peer should end, with failed flows";
    double ended = secondsSince(killedAt);
    auto summary = nlohmann::json::parse(lastLine(log), nullptr, false);
    ASSERT_FALSE(summary.is_discarded()) << lastLine(log);
    EXPECT_LT(ended, 10.0) << "clients waited for their timeout";
    EXPECT_EQ(summary["outcomes"].value("timeout", 0), 0) << summary.dump();
    EXPECT_GT(summary["outcomes"].value("reset", 0), 0) << summary.dump();
    std::cout << "killed with 40 transfers open: all clients done " << ended
              << " s later, outcomes " << summary["outcomes"].dump() << "\n";
}

// SIGTERM with transfers open: the listener closes, the open ones finish intact, exit 0.
TEST_P(Faults, SigtermLetsOpenTransfersFinishThenExitsZero) {
    startLab({"--drain-timeout", "30"});
    startLoadServer();
    std::string log = lab->workdir() + "/flows.log";
    auto flows = startFlows({"--flows", "8", "--max-size", "2097152", "--slow-readers", "8",
                             "--server-reset", "0", "--client-abort", "0", "--half-close", "0"},
                            log);
    auto deadline = SteadyClock::now() + 20s;
    while (lab->events("connected").size() < 8 && SteadyClock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(lab->events("connected").size(), 8u);
    lab->proxy().signal(SIGTERM);
    EXPECT_EQ(flows.wait(60s), 0) << lastLine(log);
    auto summary = nlohmann::json::parse(lastLine(log), nullptr, false);
    ASSERT_FALSE(summary.is_discarded()) << lastLine(log);
    EXPECT_EQ(summary["failed"], 0) << summary.dump();
    EXPECT_EQ(lab->proxy().wait(10s), 0) << "the proxy should exit 0 after draining";
    auto closed = lab->events("closed", 8);
    for (const auto& event : closed) {
        EXPECT_EQ(event["reason"], "normal") << event;
    }
    auto stats = lab->events("stats");
    ASSERT_FALSE(stats.empty());
    EXPECT_EQ(stats.back()["trigger"], "exit");
    EXPECT_EQ(unaccountedConnections(stats.back()), 0) << stats.back().dump();
}

INSTANTIATE_TEST_SUITE_P(, Faults, kAllCases, caseName);

// The gateway's conntrack drop counter, summed over CPUs (`conntrack -S`).
long long conntrackDrops(GatewayLab& lab) {
    auto stats = lab.net().exec(lab.net().gateway(),
                                "conntrack -S | tr ' ' '\\n' | awk -F= '$1 == \"drop\" {s += $2} "
                                "END {print s + 0}'");
    return std::stoll(stats.output.empty() ? "-1" : stats.output);
}

// Redirect mode keeps a conntrack entry per connection. When the gateway's table is full, the
// kernel drops a new connection's SYN ("nf_conntrack: table full, dropping packet"): the client's
// connect times out and the proxy never sees it. The table is filled for real: conntrack_fill.py
// inserts assured entries (which early drop may not evict) until the kernel refuses one.
// nf_conntrack_max is one value for the machine and read-only in a namespace, but the count it
// limits is kept per namespace, so only the gateway's table fills.
TEST(ConntrackTableFull, RedirectModeClientsTimeOutAndDoctorSaysWhy) {
    if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    GatewayLab lab("redirect", Family::Ipv4);
    const std::string gateway = lab.net().gateway();
    auto limit = lab.net().exec(gateway, "cat /proc/sys/net/netfilter/nf_conntrack_max");
    ASSERT_EQ(limit.exitCode, 0) << limit.output;
    if (std::stoll(limit.output) > 1'100'000) {
        GTEST_SKIP() << "nf_conntrack_max is " << limit.output
                     << ": too many entries (about 370 bytes each) to fill in a test";
    }
    const std::string url = "http://" + withPort(lab.addresses().server, kHttpPort);
    auto before = lab.net().exec(lab.net().client(), "curl -sS --max-time 5 -o /dev/null " + url);
    ASSERT_EQ(before.exitCode, 0) << "the lab should work before the table fills: "
                                  << before.output;

    auto fill =
        lab.net().exec(gateway, "python3 " + std::string(TPLAB_TEST_TOOLS) + "/conntrack_fill.py");
    ASSERT_EQ(fill.exitCode, 0) << fill.output;
    std::cout << "filled: " << fill.output;
    long long dropsBefore = conntrackDrops(lab);
    std::size_t acceptedBefore = lab.events("accepted").size();

    auto curl = lab.net().exec(lab.net().client(), "curl -sS --max-time 3 -o /dev/null " + url);
    EXPECT_EQ(curl.exitCode, 28) << "the connect should time out (curl exit 28): " << curl.output;
    EXPECT_GT(conntrackDrops(lab), dropsBefore) << "the kernel should count the dropped SYNs";
    EXPECT_EQ(lab.events("accepted").size(), acceptedBefore) << "the proxy should see nothing";

    auto doctor = lab.net().exec(gateway, std::string(TPLAB_BINARY) + " doctor");
    EXPECT_NE(doctor.output.find("conntrack.usage"), std::string::npos) << doctor.output;
    EXPECT_NE(doctor.output.find("conntrack.drops"), std::string::npos) << doctor.output;
    std::string words = std::regex_replace(doctor.output, std::regex("\\s+"), " ");  // unwrapped
    EXPECT_NE(words.find("in the host's initial namespace"), std::string::npos)
        << "the limit is read-only in a namespace: the fix should say where to raise it\n"
        << doctor.output;
    std::cout << "client: " << curl.output << "\ndoctor:\n" << doctor.output << "\n";
    lab.net().exec(gateway, "conntrack -F");  // the namespace's end would free them too, slowly
}

}  // namespace
}  // namespace tplab::test
