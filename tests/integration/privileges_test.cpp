// tplab proxy --user: after its listeners are open the proxy runs as that user, with only the
// capabilities its options need, in every thread, and it still proxies real connections (the
// kernel, not a mock, decides whether a dropped capability was needed). Also: without --user,
// an unprivileged proxy works where nothing needs a capability.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "netns_topology.hpp"
#include "process.hpp"

namespace tplab::test {
namespace {

constexpr std::uint64_t kNetBindService = 1ull << 10;
constexpr std::uint64_t kNetAdmin = 1ull << 12;
constexpr int kProxyPort = 15001;
constexpr int kHttpPort = 80;
constexpr int kUdpEchoPort = 7;  // below 1024: replies need CAP_NET_BIND_SERVICE

// /proc/PID/task/TID/status as name -> value.
std::map<std::string, std::string> readStatus(const std::string& path) {
    std::map<std::string, std::string> fields;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        auto colon = line.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        auto value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        fields[line.substr(0, colon)] = value;
    }
    return fields;
}

std::uint64_t capabilitySet(const std::map<std::string, std::string>& status,
                            const std::string& name) {
    auto found = status.find(name);
    return found == status.end() ? ~0ull : std::stoull(found->second, nullptr, 16);
}

struct PrivilegeCase {
    std::string name;
    std::string mode;  // redirect, tproxy or sk-lookup
    bool spoofSource = false;
    bool udp = false;
    std::uint64_t expectedCaps = 0;  // permitted = effective = bounding
};

class ProxyAsUser : public ::testing::TestWithParam<PrivilegeCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        const auto& param = GetParam();
        char dir[] = "/tmp/tplab-priv-XXXXXX";
        workdir = ::mkdtemp(dir);
        std::ofstream(workdir + "/index.html") << "served by server\n";
        net = std::make_unique<NetnsTopology>();
        const std::string& gw = net->gateway();
        server = net->spawn(net->server(),
                            {"python3", "-m", "http.server", "--bind", "::", "--directory", workdir,
                             std::to_string(kHttpPort)},
                            workdir + "/server.log");
        if (param.mode == "sk-lookup") {
            // No netfilter: the route makes port 80 local, the BPF program picks the listener.
            net->mustExec(gw, "ip rule add iif veth-c ipproto tcp dport 80 lookup 100");
        } else if (param.mode == "redirect") {
            net->mustExec(gw,
                          "iptables -t nat -A PREROUTING -i veth-c -p tcp --dport 80 "
                          "-j REDIRECT --to-ports " +
                              std::to_string(kProxyPort));
        } else {
            net->mustExec(gw,
                          "iptables -t mangle -A PREROUTING -i veth-c -p tcp --dport 80 "
                          "-j TPROXY --on-port " +
                              std::to_string(kProxyPort) + " --tproxy-mark 0x1/0x1");
        }
        if (param.udp) {
            net->mustExec(gw, "iptables -t mangle -A PREROUTING -i veth-c -p udp --dport " +
                                  std::to_string(kUdpEchoPort) + " -j TPROXY --on-port " +
                                  std::to_string(kProxyPort) + " --tproxy-mark 0x1/0x1");
            echo = net->spawn(
                net->server(),
                {"socat", "UDP4-LISTEN:" + std::to_string(kUdpEchoPort) + ",fork", "EXEC:cat"},
                workdir + "/echo.log");
        }
        if (param.mode == "tproxy" || param.spoofSource) {
            net->mustExec(gw, "ip rule add fwmark 0x1/0x1 lookup 100");
        }
        if (param.mode != "redirect" || param.spoofSource) {
            net->mustExec(gw, "ip route add local 0.0.0.0/0 dev lo table 100");
        }
        if (param.spoofSource) {
            net->mustExec(gw,
                          "iptables -t mangle -A PREROUTING -i veth-s -p tcp -m socket "
                          "--transparent -j MARK --set-mark 0x1/0x1");
        }
        std::vector<std::string> argv = {TPLAB_BINARY, "proxy",
                                         "--mode",     param.mode,
                                         "--listen",   "0.0.0.0:" + std::to_string(kProxyPort),
                                         "--user",     "nobody",
                                         "--events",   workdir + "/events.jsonl"};
        if (param.spoofSource) {
            argv.push_back("--spoof-source");
        }
        if (param.udp) {
            argv.push_back("--udp");
        }
        if (param.mode == "sk-lookup") {
            argv.insert(argv.end(), {"--dport", "80"});  // loaded and attached before the drop
        }
        proxy = net->spawn(gw, argv, workdir + "/proxy.log");
        ASSERT_TRUE(net->waitListening(net->server(), kHttpPort));
        ASSERT_TRUE(net->waitListening(gw, kProxyPort)) << log();
    }
    void TearDown() override {
        proxy.stop();
        echo.stop();
        server.stop();
        net.reset();
        if (!workdir.empty()) {
            std::filesystem::remove_all(workdir);
        }
    }
    std::string log() const {
        std::ifstream in(workdir + "/proxy.log");
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
    // Every thread's status, once the main thread has switched to uid 65534 (up to 5 s).
    std::vector<std::map<std::string, std::string>> threadsAfterTheDrop() const {
        const std::string proc = "/proc/" + std::to_string(proxy.pid());
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (readStatus(proc + "/status")["Uid"] != "65534\t65534\t65534\t65534" &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the writer thread starts
        std::vector<std::map<std::string, std::string>> threads;
        for (const auto& task : std::filesystem::directory_iterator(proc + "/task")) {
            threads.push_back(readStatus(task.path().string() + "/status"));
        }
        return threads;
    }

    std::string workdir;
    std::unique_ptr<NetnsTopology> net;
    Process server;
    Process echo;
    Process proxy;
};

TEST_P(ProxyAsUser, EveryThreadRunsAsNobodyWithOnlyTheCapabilitiesItNeeds) {
    auto threads = threadsAfterTheDrop();
    ASSERT_GE(threads.size(), 2u) << "the main thread and the events writer";
    for (auto& status : threads) {
        SCOPED_TRACE("thread " + status["Pid"]);
        EXPECT_EQ(status["Uid"], "65534\t65534\t65534\t65534");
        EXPECT_EQ(status["Gid"], "65534\t65534\t65534\t65534");
        EXPECT_EQ(status["Groups"], "");
        EXPECT_EQ(capabilitySet(status, "CapEff"), GetParam().expectedCaps);
        EXPECT_EQ(capabilitySet(status, "CapPrm"), GetParam().expectedCaps);
        EXPECT_EQ(capabilitySet(status, "CapBnd"), GetParam().expectedCaps);
        EXPECT_EQ(capabilitySet(status, "CapInh"), 0u);
        EXPECT_EQ(capabilitySet(status, "CapAmb"), 0u);
        EXPECT_EQ(status["NoNewPrivs"], "1");
    }
    EXPECT_NE(log().find("running as user nobody (uid 65534)"), std::string::npos) << log();
}

TEST_P(ProxyAsUser, StillProxiesAfterTheDrop) {
    threadsAfterTheDrop();
    auto curl = net->exec(net->client(), "curl -sS --max-time 5 http://198.51.100.2/index.html");
    EXPECT_EQ(curl.output, "served by server\n") << log();
    std::ifstream in(workdir + "/server.log");
    std::stringstream serverLog;
    serverLog << in.rdbuf();
    // python's http.server logs its peer first: the client itself when the source is spoofed.
    std::string peer =
        GetParam().spoofSource ? "::ffff:192.0.2.2 - - " : "::ffff:198.51.100.1 - - ";
    EXPECT_NE(serverLog.str().find(peer), std::string::npos) << serverLog.str();
    if (GetParam().udp) {
        auto udp = net->exec(net->client(), "python3 " + std::string(TPLAB_TEST_TOOLS) +
                                                "/udp_echo_client.py 198.51.100.2 " +
                                                std::to_string(kUdpEchoPort) + " 20");
        EXPECT_EQ(udp.output, "ok 20 from 198.51.100.2\n") << log();
    }
    // The events file was opened as root before the drop and is still written.
    std::ifstream events(workdir + "/events.jsonl");
    std::string all((std::istreambuf_iterator<char>(events)), std::istreambuf_iterator<char>());
    EXPECT_NE(all.find("\"event\":\"connected\""), std::string::npos) << all;
}

INSTANTIATE_TEST_SUITE_P(
    , ProxyAsUser,
    ::testing::Values(PrivilegeCase{"redirect", "redirect", false, false, 0},
                      PrivilegeCase{"redirect_spoof_source", "redirect", true, false, kNetAdmin},
                      PrivilegeCase{"tproxy", "tproxy", false, false, 0},
                      PrivilegeCase{"tproxy_udp", "tproxy", false, true,
                                    kNetAdmin | kNetBindService},
                      PrivilegeCase{"sk_lookup", "sk-lookup", false, false, 0}),
    [](const auto& testCase) { return testCase.param.name; });

// sk-lookup with CAP_NET_ADMIN (enough for the transparent listener) but not CAP_BPF: one line
// that names the step and the missing capabilities, and exit 1.
TEST(ProxyUnprivileged, SkLookupWithoutCapBpfSaysWhatItNeeds) {
    if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    NetnsTopology net;
    auto result =
        net.exec(net.gateway(),
                 "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+net_admin "
                 "--ambient-caps=+net_admin " +
                     std::string(TPLAB_BINARY) +
                     " proxy --mode sk-lookup --dport 80 --listen 127.0.0.1:15001 2>&1");
    EXPECT_EQ(result.exitCode, 1) << result.output;
    EXPECT_EQ(result.output,
              "tplab: error: sk-lookup: loading the BPF program: Operation not permitted (needs "
              "root, or CAP_BPF and CAP_NET_ADMIN)\n");
}

// Without --user and without root: redirect mode on a high port needs no capability at all.
TEST(ProxyUnprivileged, RedirectModeOnAHighPortRunsAndProxiesAsNobody) {
    if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    char dir[] = "/tmp/tplab-unpriv-XXXXXX";
    std::string workdir = ::mkdtemp(dir);
    std::ofstream(workdir + "/index.html") << "served by server\n";
    {
        NetnsTopology net;
        Process server = net.spawn(
            net.server(),
            {"python3", "-m", "http.server", "--bind", "::", "--directory", workdir, "80"},
            workdir + "/server.log");
        net.mustExec(net.gateway(),
                     "iptables -t nat -A PREROUTING -i veth-c -p tcp --dport 80 "
                     "-j REDIRECT --to-ports 15001");
        Process proxy =
            net.spawn(net.gateway(),
                      {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "--inh-caps=-all", "--bounding-set=-all", TPLAB_BINARY, "proxy", "--mode",
                       "redirect", "--listen", "0.0.0.0:15001", "--events", "-"},
                      workdir + "/proxy.log");
        ASSERT_TRUE(net.waitListening(net.server(), 80));
        ASSERT_TRUE(net.waitListening(net.gateway(), 15001))
            << runShell("cat " + workdir + "/proxy.log").output;
        auto status = readStatus("/proc/" + std::to_string(proxy.pid()) + "/status");
        EXPECT_EQ(status["Uid"], "65534\t65534\t65534\t65534");
        EXPECT_EQ(capabilitySet(status, "CapEff"), 0u);
        auto curl = net.exec(net.client(), "curl -sS --max-time 5 http://198.51.100.2/index.html");
        EXPECT_EQ(curl.output, "served by server\n")
            << runShell("cat " + workdir + "/proxy.log").output;
        proxy.stop();
        server.stop();
    }
    std::filesystem::remove_all(workdir);
}

}  // namespace
}  // namespace tplab::test
