// UDP through TPROXY with real clients and servers: dig against dnsmasq, and 1,000 datagrams
// through a socat echo, checking every reply comes back from the server's own address.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "netns_topology.hpp"
#include "process.hpp"

namespace tplab::test {
namespace {

constexpr int kDnsPort = 53;
constexpr int kEchoPort = 7001;

struct UdpCase {
    Family family;
    bool spoofSource;
    bool anyip = false;         // policy routing only; the proxy listens on 53 and 7001 themselves
    bool skLookup = false;      // the same routing; the proxy's BPF program steers 53 and 7001
    bool refuseClient = false;  // --allow-client names a network the client is not in
};

class UdpThroughTproxy : public ::testing::TestWithParam<UdpCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        char dir[] = "/tmp/tplab-udp-XXXXXX";
        workdir = ::mkdtemp(dir);
        net = std::make_unique<NetnsTopology>();
        const bool v4 = GetParam().family == Family::Ipv4;
        const std::string iptables = v4 ? "iptables" : "ip6tables";
        const std::string ip = v4 ? "ip -4" : "ip -6";
        const std::string& gw = net->gateway();
        std::vector<std::string> proxyArgs = {TPLAB_BINARY,
                                              "proxy",
                                              "--mode",
                                              GetParam().skLookup ? "sk-lookup" : "tproxy",
                                              "--udp",
                                              "--events",
                                              workdir + "/events.jsonl"};
        if (GetParam().skLookup) {
            for (int port : {kDnsPort, kEchoPort}) {
                net->mustExec(gw, ip + " rule add iif veth-c ipproto udp dport " +
                                      std::to_string(port) + " lookup 100");
            }
            proxyArgs.insert(proxyArgs.end(), {"--dport", "53,7001", "--listen", "[::]:15002"});
        } else if (GetParam().anyip) {
            for (int port : {kDnsPort, kEchoPort}) {
                net->mustExec(gw, ip + " rule add iif veth-c ipproto udp dport " +
                                      std::to_string(port) + " lookup 100");
                proxyArgs.insert(proxyArgs.end(), {"--listen", "0.0.0.0:" + std::to_string(port),
                                                   "--listen", "[::]:" + std::to_string(port)});
            }
            listenPort = kDnsPort;
        } else {
            net->mustExec(gw, iptables +
                                  " -t mangle -A PREROUTING -i veth-c -p udp -m multiport "
                                  "--dports 53,7001 -j TPROXY --on-port 15002 "
                                  "--tproxy-mark 0x1/0x1");
            net->mustExec(gw, ip + " rule add fwmark 0x1/0x1 lookup 100");
            proxyArgs.insert(proxyArgs.end(),
                             {"--listen", "0.0.0.0:15002", "--listen", "[::]:15002"});
        }
        net->mustExec(gw,
                      ip + " route add local " + (v4 ? "0.0.0.0/0" : "::/0") + " dev lo table 100");
        if (GetParam().refuseClient) {
            proxyArgs.insert(proxyArgs.end(),
                             {"--allow-client", v4 ? "203.0.113.0/24" : "2001:db8:99::/48"});
        }
        if (GetParam().spoofSource) {
            // Replies to the client's address must reach our transparent upstream socket.
            net->mustExec(gw, iptables +
                                  " -t mangle -A PREROUTING -i veth-s -p udp -m socket "
                                  "--transparent -j MARK --set-mark 0x1/0x1");
            proxyArgs.push_back("--spoof-source");
        }
        dns = net->spawn(
            net->server(),
            {"dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
             "--listen-address=198.51.100.2", "--listen-address=2001:db8:2::2",
             "--address=/example.test/203.0.113.7", "--address=/example.test/2001:db8:3::7",
             "--log-queries", "--pid-file=" + workdir + "/dnsmasq.pid", "--user=root"},
            workdir + "/dnsmasq.log");
        echo = net->spawn(
            net->server(),
            {"socat", "UDP6-LISTEN:" + std::to_string(kEchoPort) + ",ipv6only=0,fork", "EXEC:cat"},
            workdir + "/echo.log");
        proxy = net->spawn(gw, proxyArgs, workdir + "/proxy.log");
        ASSERT_TRUE(net->waitListening(net->server(), kDnsPort, true));
        ASSERT_TRUE(net->waitListening(net->server(), kEchoPort, true));
        ASSERT_TRUE(net->waitListening(gw, listenPort, true));
    }
    void TearDown() override {
        proxy.stop();
        echo.stop();
        dns.stop();
        net.reset();
        if (!workdir.empty()) {
            std::filesystem::remove_all(workdir);
        }
    }
    std::string server() const { return addressesFor(GetParam().family).server; }
    std::string file(const std::string& name) const {
        std::ifstream in(workdir + "/" + name);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    std::string workdir;
    int listenPort = 15002;
    std::unique_ptr<NetnsTopology> net;
    Process dns;
    Process echo;
    Process proxy;
};

TEST_P(UdpThroughTproxy, DigGetsItsAnswerFromTheServersOwnAddress) {
    const bool v4 = GetParam().family == Family::Ipv4;
    // dig ignores a reply from any other address than the one it asked ("reply from unexpected
    // source"), so an answer at all proves the proxy replied as the server.
    auto dig = net->exec(net->client(), "dig +time=3 +tries=1 +short @" + server() +
                                            " example.test " + (v4 ? "A" : "AAAA"));
    ASSERT_EQ(dig.exitCode, 0) << dig.output << file("proxy.log");
    EXPECT_EQ(dig.output, v4 ? "203.0.113.7\n" : "2001:db8:3::7\n");
    EXPECT_NE(file("events.jsonl")
                  .find(v4 ? "\"recovered_by\":\"IP_ORIGDSTADDR\""
                           : "\"recovered_by\":\"IPV6_ORIGDSTADDR\""),
              std::string::npos)
        << file("events.jsonl");
    // dnsmasq names who asked: the gateway, or with --spoof-source the client itself.
    const auto& at = addressesFor(GetParam().family);
    std::string asker = GetParam().spoofSource ? at.client : at.gatewayServerSide;
    EXPECT_NE(file("dnsmasq.log").find("from " + asker), std::string::npos) << file("dnsmasq.log");
}

TEST_P(UdpThroughTproxy, AThousandDatagramsComeBackIntactFromTheServer) {
    auto result =
        net->exec(net->client(), std::string(TPLAB_TEST_TOOLS) + "/udp_echo_client.py " + server() +
                                     " " + std::to_string(kEchoPort) + " 1000");
    EXPECT_EQ(result.exitCode, 0) << result.output << file("proxy.log");
    EXPECT_EQ(result.output, "ok 1000 from " + server() + "\n");
    // One client socket is one flow: every datagram after the first found the same session
    // (through AnyIP, by way of the reply socket bound to the server's address).
    std::istringstream events(file("events.jsonl"));
    int sessions = 0;
    for (std::string line; std::getline(events, line);) {
        auto event = nlohmann::json::parse(line, nullptr, false);
        if (!event.is_discarded() && event["event"] == "accepted" &&
            event["original_dst"] == withPort(server(), kEchoPort)) {
            ++sessions;
        }
    }
    EXPECT_EQ(sessions, 1) << file("events.jsonl");
}

class UdpAccessControl : public UdpThroughTproxy {};

TEST_P(UdpAccessControl, DatagramsOfAClientOutsideAllowClientAreDroppedAndCounted) {
    auto result = net->exec(net->client(), std::string(TPLAB_TEST_TOOLS) + "/udp_echo_client.py " +
                                               server() + " " + std::to_string(kEchoPort) + " 1");
    EXPECT_EQ(result.output, "lost datagram 0\n") << file("proxy.log");
    proxy.signal(SIGUSR1);
    nlohmann::json stats;
    for (int attempt = 0; attempt < 50 && stats.is_null(); ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::istringstream events(file("events.jsonl"));
        for (std::string line; std::getline(events, line);) {
            auto event = nlohmann::json::parse(line, nullptr, false);
            if (!event.is_discarded() && event["event"] == "stats") {
                stats = event;
            }
            EXPECT_FALSE(!event.is_discarded() && event["event"] == "accepted") << line;
        }
    }
    ASSERT_FALSE(stats.is_null()) << file("events.jsonl");
    EXPECT_EQ(stats["udp"]["dropped"]["not_allowed"], 1) << stats.dump();
    EXPECT_EQ(stats["udp"]["sessions"], 0) << stats.dump();
}

INSTANTIATE_TEST_SUITE_P(, UdpAccessControl,
                         ::testing::Values(UdpCase{Family::Ipv4, false, false, false, true},
                                           UdpCase{Family::Ipv6, false, false, false, true}),
                         [](const auto& testCase) {
                             return std::string(testCase.param.family == Family::Ipv4 ? "ipv4"
                                                                                      : "ipv6");
                         });

INSTANTIATE_TEST_SUITE_P(
    , UdpThroughTproxy,
    ::testing::Values(UdpCase{Family::Ipv4, false}, UdpCase{Family::Ipv6, false},
                      UdpCase{Family::Ipv4, true}, UdpCase{Family::Ipv6, true},
                      UdpCase{Family::Ipv4, false, true}, UdpCase{Family::Ipv6, false, true},
                      UdpCase{Family::Ipv4, false, false, true},
                      UdpCase{Family::Ipv6, false, false, true}),
    [](const auto& testCase) {
        return std::string(testCase.param.family == Family::Ipv4 ? "ipv4" : "ipv6") +
               (testCase.param.spoofSource ? "_spoofed" : "") +
               (testCase.param.anyip ? "_anyip" : "") +
               (testCase.param.skLookup ? "_sk_lookup" : "");
    });

}  // namespace
}  // namespace tplab::test
