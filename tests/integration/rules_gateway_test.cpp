// What `tplab rules --apply` leaves a running gateway able to do, in real namespaces: the
// unscoped TPROXY recipe must not cut the gateway off (its own connections, a service on the
// gateway, proxied flows), and nft must carry UDP with --spoof-source exactly as iptables does.
#include <gtest/gtest.h>

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
    void startProxy(std::vector<std::string> extra) {
        std::vector<std::string> argv = {TPLAB_BINARY, "proxy",
                                         "--mode",     "tproxy",
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

}  // namespace
}  // namespace tplab::test
