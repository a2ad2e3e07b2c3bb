// Issue 19, fairness and authentication: one client cannot hold every connection or every name
// lookup of the proxy, the workers count connections together, and password guessing from one
// address is delayed, then locked out, while other addresses go on. Real proxy, real clients
// from two client addresses (192.0.2.2 and 192.0.2.3) in namespaces.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "gateway_lab.hpp"

namespace tplab::test {
namespace {

constexpr const char* kOtherClient = "192.0.2.3";

std::string tool(const std::string& name) {
    return std::string(TPLAB_TEST_TOOLS) + "/" + name;
}

// The first JSON line of a file, waiting up to `limit` for it.
nlohmann::json firstJsonLine(const std::string& path, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream in(path);
        for (std::string line; std::getline(in, line);) {
            auto json = nlohmann::json::parse(line, nullptr, false);
            if (!json.is_discarded() && json.is_object()) {
                return json;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return nullptr;
}

class Fairness : public ::testing::Test {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
    }
    void TearDown() override {
        if (lab && HasFailure()) {
            std::cerr << "proxy log:\n" << lab->proxyLog();
        }
        for (auto& process : clients) {
            process.stop();
        }
        if (!netnsDir.empty()) {
            runShell("rm -rf " + netnsDir);
        }
    }
    void startLab(const std::string& mode, std::vector<std::string> extra) {
        lab = std::make_unique<GatewayLab>(mode, Family::Ipv4, false, ProxyLaunch{{}, extra});
        lab->net().mustExec(lab->net().client(),
                            std::string("ip addr add ") + kOtherClient + "/24 dev eth0");
    }
    std::string gateway() const { return lab->addresses().gatewayClientSide; }
    std::string server() const { return lab->addresses().server; }
    // socks_clients.py in the client namespace, from `source`; returns its JSON line.
    nlohmann::json socksClients(const std::string& arguments, const std::string& source) {
        auto result =
            lab->net().exec(lab->net().client(), "python3 " + tool("socks_clients.py") + " " +
                                                     arguments + " --source " + source);
        auto json = nlohmann::json::parse(result.output, nullptr, false);
        EXPECT_FALSE(json.is_discarded()) << result.output;
        return json;
    }
    std::string probe(const std::string& arguments, const std::string& source) {
        auto result = lab->net().exec(lab->net().client(), "python3 " + tool("socks5_probe.py") +
                                                               " " + gateway() + " " +
                                                               std::to_string(kExplicitPort) + " " +
                                                               arguments + " --source " + source);
        return result.output;
    }

    std::unique_ptr<GatewayLab> lab;
    std::vector<Process> clients;
    std::string netnsDir;
};

// The "done" case: 80 idle tunnels asked for by one client under --max-connections 64.
TEST_F(Fairness, AGreedyClientHoldsItsEightAndAnotherStillGetsTenOfTen) {
    startLab("socks5", {"--max-connections", "64", "--max-connections-per-client", "8"});
    std::string greedyLog = lab->workdir() + "/greedy.log";
    clients.push_back(
        lab->net().spawn(lab->net().client(),
                         {"python3", tool("socks_clients.py"), "tunnels", gateway(),
                          std::to_string(kExplicitPort), server(), std::to_string(kEchoPort), "80",
                          "--hold", "60", "--timeout", "5", "--source", lab->addresses().client},
                         greedyLog));
    auto greedy = firstJsonLine(greedyLog, std::chrono::seconds(30));
    ASSERT_TRUE(greedy.is_object()) << "the greedy client printed nothing";
    EXPECT_EQ(greedy.value("ok", -1), 8) << greedy.dump();
    // Its 8 tunnels are still held while the other client opens 10, one after the other.
    auto other = socksClients("tunnels " + gateway() + " " + std::to_string(kExplicitPort) + " " +
                                  server() + " " + std::to_string(kEchoPort) + " 10 --sequential",
                              kOtherClient);
    EXPECT_EQ(other.value("ok", -1), 10) << other.dump();
    auto refused = lab->events("refused", 72);
    ASSERT_GE(refused.size(), 72u);
    EXPECT_EQ(refused[0]["reason"], "client_limit");
    EXPECT_EQ(refused[0]["client"].get<std::string>().rfind(lab->addresses().client + ":", 0), 0u)
        << refused[0];
}

// Under the old split each of two workers had 128 of --max-connections 256, so unless the
// kernel hashed exactly 128 of 256 held flows to each, some waited in a full worker's backlog.
TEST_F(Fairness, TwoWorkersServeEveryHeldFlowUpToTheTotal) {
    startLab("tproxy",
             {"--workers", "2", "--max-connections", "256", "--max-connections-per-client", "256"});
    clients.push_back(
        lab->net().spawn(lab->net().server(),
                         {"python3", tool("hold_flows.py"), "server", std::to_string(kClosedPort)},
                         lab->workdir() + "/hold-echo.log"));
    ASSERT_TRUE(lab->net().waitListening(lab->net().server(), kClosedPort));
    auto result = lab->net().exec(lab->net().client(),
                                  "python3 " + tool("hold_flows.py") + " client " + server() + " " +
                                      std::to_string(kClosedPort) + " 256 --hold --timeout 10");
    auto summary = nlohmann::json::parse(result.output, nullptr, false);
    ASSERT_FALSE(summary.is_discarded()) << result.output;
    EXPECT_EQ(summary.value("ok", 0), 256) << summary.dump();
}

// A name that never resolves: the gateway's resolver is the server, which drops DNS, so each
// getaddrinfo() waits 2 x 5 s. One client asking 64 of them takes at most 8 lookup slots.
TEST_F(Fairness, AClientWhoseNamesNeverResolveLeavesLookupsForOthers) {
    // `ip netns exec` mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf for the proxy.
    netnsDir = "/etc/netns/tpt" + std::to_string(::getpid() % 100000) + "-gw";
    runShell("mkdir -p " + netnsDir +
             " && printf 'nameserver 198.51.100.2\\noptions timeout:5 "
             "attempts:2\\n' > " +
             netnsDir + "/resolv.conf");
    startLab("socks5", {"--connect-timeout", "20"});
    lab->net().mustExec(lab->net().server(), "iptables -A INPUT -p udp --dport 53 -j DROP");
    lab->net().mustExec(lab->net().server(), "iptables -A INPUT -p tcp --dport 53 -j DROP");
    std::string hogLog = lab->workdir() + "/hog.log";
    clients.push_back(
        lab->net().spawn(lab->net().client(),
                         {"python3", tool("socks_clients.py"), "tunnels", gateway(),
                          std::to_string(kExplicitPort), "never.example", "80", "64", "--name",
                          "--timeout", "30", "--source", lab->addresses().client},
                         hogLog));
    // The hog's lookups are in flight (its first 8) or refused (the rest) within a second.
    auto refusedLookups = lab->events("closed", 56);
    EXPECT_GE(refusedLookups.size(), 56u);
    auto other = socksClients("tunnels " + gateway() + " " + std::to_string(kExplicitPort) + " " +
                                  server() + " " + std::to_string(kEchoPort) + " 1 --name",
                              kOtherClient);
    EXPECT_EQ(other.value("ok", -1), 1) << other.dump();
    bool sawPerClientLimit = false;
    for (const auto& event : lab->events("closed")) {
        sawPerClientLimit |=
            event.value("detail", "").find("name lookups in flight") != std::string::npos;
    }
    EXPECT_TRUE(sawPerClientLimit);
}

TEST_F(Fairness, PasswordGuessingIsDelayedThenLockedOutForThatAddressOnly) {
    char dir[] = "/tmp/tplab-it-guess-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    std::string passwordFile = writePasswordFile(dir, "s3cret");
    startLab("socks5", {"--socks-user", "alice", "--socks-password-file", passwordFile});
    // 8 s of sequential guessing: 3 answered at once, then one a second, locked out at 10.
    auto guesses =
        socksClients("guess " + gateway() + " " + std::to_string(kExplicitPort) + " --seconds 8",
                     lab->addresses().client);
    RecordProperty("guesses_per_second", guesses.dump());
    std::cout << "guessing from one address: " << guesses.dump() << "\n";
    ASSERT_GE(guesses.value("refused", 0), 10) << guesses.dump();
    std::string destination = server() + " " + std::to_string(kEchoPort);
    EXPECT_EQ(probe(destination + " --user alice --password s3cret", lab->addresses().client),
              "method 02\nauth 01\n")
        << "the right password is refused during the lock-out";
    EXPECT_EQ(probe(destination + " --user alice --password s3cret", kOtherClient),
              "method 02\nauth 00\nreply 00\n")
        << "another address is not locked out";
    auto lockouts = lab->events("auth_lockout", 1);
    ASSERT_EQ(lockouts.size(), 1u);
    EXPECT_EQ(lockouts[0]["client"], lab->addresses().client);
    EXPECT_EQ(lockouts[0]["failures"], 10);
    runShell(std::string("rm -rf ") + dir);
}

}  // namespace
}  // namespace tplab::test
