// What `tplab rules --apply` leaves a running gateway able to do, in real namespaces: the
// unscoped TPROXY recipe must not cut the gateway off (its own connections, a service on the
// gateway, proxied flows), nft must carry UDP with --spoof-source exactly as iptables does, and
// the conntrack zones of --spoof-source must keep flows whose 4-tuples collide.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "process.hpp"
#include "web_topology.hpp"

namespace tplab::test {
namespace {

constexpr int kProxyPort = 15001;
constexpr int kGatewayServicePort = 2222;  // a service of the gateway itself, like sshd
constexpr int kUdpEchoPort = 7001;
constexpr int kDatagrams = 50;
constexpr int kLoadServerPort = 9000;

std::string familyName(Family family) {
    return family == Family::Ipv4 ? "ipv4" : "ipv6";
}

// Fresh namespaces with the server's http.server, plus helpers to apply rules and run the proxy.
class RulesOnAGateway {
  public:
    explicit RulesOnAGateway(const std::string& name)
        : web_(std::make_unique<WebTopology>(name)), net_(web_->net()) {}
    ~RulesOnAGateway() {
        proxy_.stop();
        for (auto& process : others_)
            process.stop();
        if (!applied_.empty()) {  // also drops the record --apply keeps in /run/tplab
            rules(applied_.substr(0, applied_.rfind(" --apply")) + " --remove");
        }
    }

    NetnsTopology& net() { return net_; }
    WebTopology& web() { return *web_; }

    // `tplab rules ARGUMENTS` in the gateway; what ends in --apply is removed at the end.
    CommandResult rules(const std::string& arguments) {
        const std::string apply = " --apply";
        if (arguments.size() > apply.size() &&
            arguments.compare(arguments.size() - apply.size(), apply.size(), apply) == 0) {
            applied_ = arguments;
        }
        return net_.exec(net_.gateway(), std::string(TPLAB_BINARY) + " rules " + arguments);
    }
    void startProxy(std::vector<std::string> extra, const std::string& mode = "tproxy") {
        std::vector<std::string> argv = {TPLAB_BINARY, "proxy",
                                         "--mode",     mode,
                                         "--listen",   "0.0.0.0:" + std::to_string(kProxyPort),
                                         "--listen",   "[::]:" + std::to_string(kProxyPort),
                                         "--events",   web_->workdir() + "/events.jsonl"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        proxy_ = net_.spawn(net_.gateway(), argv, web_->workdir() + "/proxy.log");
    }
    void spawn(const std::string& ns, const std::vector<std::string>& argv,
               const std::string& log) {
        others_.push_back(net_.spawn(ns, argv, web_->workdir() + "/" + log));
    }
    std::string file(const std::string& name) const { return web_->readFile(name); }

  private:
    std::unique_ptr<WebTopology> web_;
    NetnsTopology& net_;
    Process proxy_;
    std::vector<Process> others_;
    std::string applied_;
};

// --- 1. The unscoped recipe: `tplab rules --mode tproxy --port P --apply`, nothing else. ---

struct UnscopedCase {
    std::string firewall;
    Family family;
    bool spoofSource;
};

// gtest prints a failing test's parameter with this, instead of a dump of its bytes.
[[maybe_unused]] void PrintTo(const UnscopedCase& c, std::ostream* out) {
    *out << c.firewall << "_" << familyName(c.family) << (c.spoofSource ? "_spoof" : "");
}

class UnscopedTproxyRules : public ::testing::TestWithParam<UnscopedCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        const auto& c = GetParam();
        lab = std::make_unique<RulesOnAGateway>("unscoped");
        auto& net = lab->net();
        // Like sshd: listening on every address of the gateway, answering with its name.
        lab->spawn(
            net.gateway(),
            {"socat",
             "TCP6-LISTEN:" + std::to_string(kGatewayServicePort) + ",ipv6only=0,fork,reuseaddr",
             "SYSTEM:echo served by gateway"},
            "gateway-service.log");
        ASSERT_TRUE(net.waitListening(net.gateway(), kGatewayServicePort));
        auto applied = lab->rules("--mode tproxy --firewall " + c.firewall + " --port " +
                                  std::to_string(kProxyPort) + " --" + familyName(c.family) +
                                  (c.spoofSource ? " --spoof-source" : "") + " --apply");
        ASSERT_EQ(applied.exitCode, 0) << applied.output;
        std::vector<std::string> extra;
        if (c.spoofSource)
            extra.push_back("--spoof-source");
        lab->startProxy(extra);
        ASSERT_TRUE(net.waitListening(net.gateway(), kProxyPort));
    }
    void TearDown() override { lab.reset(); }

    std::unique_ptr<RulesOnAGateway> lab;
};

TEST_P(UnscopedTproxyRules, TheGatewaysOwnConnectionToTheServerWorks) {
    const auto& at = addressesFor(GetParam().family);
    auto curl = lab->web().fetchIndex(lab->net().gateway(), urlHost(at.server));
    EXPECT_EQ(curl.output, "served by server\n")
        << "TPROXY drops the server's SYN-ACK to the gateway's own (not transparent) socket";
}

TEST_P(UnscopedTproxyRules, AClientReachesAServiceOnTheGatewayItself) {
    const auto& at = addressesFor(GetParam().family);
    auto& net = lab->net();
    auto reply = net.exec(net.client(), "timeout 10 socat -u TCP:" +
                                            withPort(at.gatewayClientSide, kGatewayServicePort) +
                                            ",connect-timeout=5 STDOUT");
    EXPECT_EQ(reply.output, "served by gateway\n") << lab->file("proxy.log");
    EXPECT_EQ(lab->file("events.jsonl").find(":" + std::to_string(kGatewayServicePort) + "\""),
              std::string::npos)
        << "the gateway's own service is reached directly, not through the proxy:\n"
        << lab->file("events.jsonl");
}

TEST_P(UnscopedTproxyRules, AClientReachesTheServerThroughTheProxy) {
    const auto& at = addressesFor(GetParam().family);
    auto curl = lab->web().fetchIndex(lab->net().client(), urlHost(at.server));
    EXPECT_EQ(curl.output, "served by server\n") << lab->file("proxy.log");
    EXPECT_NE(
        lab->file("events.jsonl").find("\"original_dst\":\"" + withPort(at.server, 80) + "\""),
        std::string::npos)
        << "the flow was not intercepted:\n"
        << lab->file("events.jsonl");
}

std::vector<UnscopedCase> unscopedCases() {
    std::vector<UnscopedCase> cases;
    for (const char* firewall : {"iptables", "nft"})
        for (Family family : {Family::Ipv4, Family::Ipv6})
            for (bool spoof : {false, true})
                cases.push_back({firewall, family, spoof});
    return cases;
}

INSTANTIATE_TEST_SUITE_P(, UnscopedTproxyRules, ::testing::ValuesIn(unscopedCases()),
                         [](const ::testing::TestParamInfo<UnscopedCase>& testCase) {
                             return testCase.param.firewall + "_" +
                                    familyName(testCase.param.family) +
                                    (testCase.param.spoofSource ? "_spoof" : "");
                         });

// --- 2. UDP: nft and iptables must carry the same datagrams, with and without spoofing. ---

struct UdpRulesCase {
    std::string firewall;
    Family family;
    bool spoofSource;
    bool scoped;  // --in-interface veth-c --dport 7001, or the unscoped recipe
};

[[maybe_unused]] void PrintTo(const UdpRulesCase& c, std::ostream* out) {
    *out << c.firewall << "_" << familyName(c.family) << (c.spoofSource ? "_spoof" : "")
         << (c.scoped ? "_scoped" : "_unscoped");
}

class UdpThroughTproxyRules : public ::testing::TestWithParam<UdpRulesCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        const auto& c = GetParam();
        lab = std::make_unique<RulesOnAGateway>("udp-rules");
        auto& net = lab->net();
        lab->spawn(net.server(),
                   {"socat", "UDP6-LISTEN:" + std::to_string(kUdpEchoPort) + ",ipv6only=0,fork",
                    "EXEC:cat"},
                   "echo.log");
        ASSERT_TRUE(net.waitListening(net.server(), kUdpEchoPort, true));
        auto applied = lab->rules(
            "--mode tproxy --udp --firewall " + c.firewall + " --port " +
            std::to_string(kProxyPort) + " --" + familyName(c.family) +
            (c.spoofSource ? " --spoof-source" : "") +
            (c.scoped ? " --in-interface veth-c --dport " + std::to_string(kUdpEchoPort) : "") +
            " --apply");
        ASSERT_EQ(applied.exitCode, 0) << applied.output;
        std::vector<std::string> extra = {"--udp"};
        if (c.spoofSource)
            extra.push_back("--spoof-source");
        lab->startProxy(extra);
        ASSERT_TRUE(net.waitListening(net.gateway(), kProxyPort, true));
    }
    void TearDown() override { lab.reset(); }

    std::unique_ptr<RulesOnAGateway> lab;
};

TEST_P(UdpThroughTproxyRules, EveryDatagramOfOneClientSocketComesBackFromTheServer) {
    const auto& server = addressesFor(GetParam().family).server;
    auto result = lab->net().exec(
        lab->net().client(), std::string(TPLAB_TEST_TOOLS) + "/udp_echo_client.py " + server + " " +
                                 std::to_string(kUdpEchoPort) + " " + std::to_string(kDatagrams));
    EXPECT_EQ(result.output, "ok " + std::to_string(kDatagrams) + " from " + server + "\n")
        << lab->file("proxy.log");
    EXPECT_NE(lab->file("events.jsonl")
                  .find("\"original_dst\":\"" + withPort(server, kUdpEchoPort) + "\""),
              std::string::npos)
        << "the datagrams were not intercepted:\n"
        << lab->file("events.jsonl");
}

std::vector<UdpRulesCase> udpCases() {
    std::vector<UdpRulesCase> cases;
    for (const char* firewall : {"iptables", "nft"})
        for (Family family : {Family::Ipv4, Family::Ipv6})
            for (bool spoof : {false, true})
                for (bool scoped : {true, false})
                    cases.push_back({firewall, family, spoof, scoped});
    return cases;
}

INSTANTIATE_TEST_SUITE_P(, UdpThroughTproxyRules, ::testing::ValuesIn(udpCases()),
                         [](const ::testing::TestParamInfo<UdpRulesCase>& testCase) {
                             return testCase.param.firewall + "_" +
                                    familyName(testCase.param.family) +
                                    (testCase.param.spoofSource ? "_spoof" : "") +
                                    (testCase.param.scoped ? "_scoped" : "_unscoped");
                         });

// --- 3. --spoof-source with the port range squeezed to 16 ports on client and gateway: the
// proxy's spoofed upstreams and the client's own flows share 4-tuples all the time. The zone
// rules `tplab rules --spoof-source` writes (with `tplab proxy --mark 2`) must lose no flow.

struct CollisionRulesCase {
    std::string firewall;
    std::string mode;
    Family family;
};

[[maybe_unused]] void PrintTo(const CollisionRulesCase& c, std::ostream* out) {
    *out << c.firewall << "_" << c.mode << "_" << familyName(c.family);
}

class SpoofedCollisionsThroughTplabRules : public ::testing::TestWithParam<CollisionRulesCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        const auto& c = GetParam();
        lab = std::make_unique<RulesOnAGateway>("zones");
        auto& net = lab->net();
        for (const auto& ns : {net.client(), net.gateway()}) {
            net.mustExec(ns, "sysctl -qw net.ipv4.ip_local_port_range=\"40000 40015\"");
        }
        lab->spawn(net.server(),
                   {"python3", std::string(TPLAB_TEST_TOOLS) + "/load_peer.py", "serve", "--port",
                    std::to_string(kLoadServerPort), "--results", results()},
                   "load-server.log");
        ASSERT_TRUE(net.waitListening(net.server(), kLoadServerPort));
        auto applied = lab->rules("--mode " + c.mode + " --firewall " + c.firewall + " --port " +
                                  std::to_string(kProxyPort) + " --" + familyName(c.family) +
                                  " --in-interface veth-c --dport " +
                                  std::to_string(kLoadServerPort) + " --spoof-source --apply");
        ASSERT_EQ(applied.exitCode, 0) << applied.output;
        lab->startProxy({"--spoof-source", "--mark", "2"}, c.mode);
        ASSERT_TRUE(net.waitListening(net.gateway(), kProxyPort));
    }
    void TearDown() override { lab.reset(); }
    std::string results() const { return lab->web().workdir() + "/load-server.jsonl"; }

    std::unique_ptr<RulesOnAGateway> lab;
};

TEST_P(SpoofedCollisionsThroughTplabRules, NoFlowIsLost) {
    const auto& server = addressesFor(GetParam().family).server;
    auto run = lab->net().exec(
        lab->net().client(),
        "timeout 120 python3 " + std::string(TPLAB_TEST_TOOLS) + "/load_peer.py run --target " +
            withPort(server, kLoadServerPort) + " --server-results " + results() +
            " --flows 12 --max-size 1048576 --slow-readers 12 --flow-timeout 20 --server-wait 3" +
            " 2>/dev/null");
    auto summary = nlohmann::json::parse(run.output, nullptr, false);
    ASSERT_FALSE(summary.is_discarded()) << run.output;
    EXPECT_EQ(summary["failed"], 0) << summary.dump() << "\n" << lab->file("proxy.log");
    auto zoned = lab->net().exec(lab->net().gateway(), "conntrack -L --zone 1 2>/dev/null | wc -l");
    EXPECT_GT(std::stoi(zoned.output), 0) << "no upstream connection was put in zone 1";
}

INSTANTIATE_TEST_SUITE_P(, SpoofedCollisionsThroughTplabRules,
                         ::testing::Values(CollisionRulesCase{"iptables", "redirect", Family::Ipv4},
                                           CollisionRulesCase{"nft", "redirect", Family::Ipv6},
                                           CollisionRulesCase{"iptables", "tproxy", Family::Ipv6},
                                           CollisionRulesCase{"nft", "tproxy", Family::Ipv4}),
                         [](const ::testing::TestParamInfo<CollisionRulesCase>& testCase) {
                             return testCase.param.firewall + "_" + testCase.param.mode + "_" +
                                    familyName(testCase.param.family);
                         });

}  // namespace
}  // namespace tplab::test
