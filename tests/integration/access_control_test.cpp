// Access control of tplab proxy in real namespaces with real clients: the explicit modes refuse
// every spelling of the gateway itself (checked after name resolution), --allow-dest reopens
// one, --allow-client refuses other clients in every mode, and a chain of tunnels through two
// explicit proxies on one gateway stops at its first hop.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "gateway_lab.hpp"

namespace tplab::test {
namespace {

struct AccessCase {
    std::string mode;
    Family family;
};

std::string caseName(const ::testing::TestParamInfo<AccessCase>& info) {
    std::string mode = info.param.mode == "http-connect" ? "http_connect" : info.param.mode;
    return mode + (info.param.family == Family::Ipv4 ? "_ipv4" : "_ipv6");
}

constexpr int kGatewayLoopbackPort = 7100;  // a service on the gateway's 127.0.0.1 only

class AccessControl : public ::testing::TestWithParam<AccessCase> {
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
        loopbackService.stop();
    }
    void startLab(std::vector<std::string> args = {}) {
        lab = std::make_unique<GatewayLab>(GetParam().mode, GetParam().family, false,
                                           ProxyLaunch{{}, std::move(args)});
        loopbackService = lab->net().spawn(lab->net().gateway(),
                                           {"socat",
                                            "TCP-LISTEN:" + std::to_string(kGatewayLoopbackPort) +
                                                ",bind=127.0.0.1,reuseaddr,fork",
                                            "SYSTEM:echo gateway-loopback-only"},
                                           lab->workdir() + "/loopback-service.log");
        ASSERT_TRUE(lab->net().waitListening(lab->net().gateway(), kGatewayLoopbackPort));
    }
    const Addresses& at() const { return lab->addresses(); }
    bool isSocks() const { return GetParam().mode == "socks5"; }

    // Asks the proxy, from namespace `ns`, for HOST:PORT (a name goes as a name: SOCKS5 ATYP
    // 0x03, CONNECT host:port) and returns its answer: "reply XX" or the HTTP status line.
    std::string ask(const std::string& host, int port, const std::string& ns = "") {
        const std::string from = ns.empty() ? lab->net().client() : ns;
        const std::string proxy = ns.empty() || ns == lab->net().client() ? at().gatewayClientSide
                                                                          : at().gatewayServerSide;
        if (isSocks()) {
            auto result = lab->net().exec(
                from, std::string(TPLAB_TEST_TOOLS) + "/socks5_probe.py " + proxy + " " +
                          std::to_string(kExplicitPort) + " " + host + " " + std::to_string(port));
            auto reply = result.output.find("reply ");
            return reply == std::string::npos ? result.output : result.output.substr(reply, 8);
        }
        std::string authority = (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                                ":" + std::to_string(port);
        auto result = lab->net().exec(
            from, "printf 'CONNECT " + authority + " HTTP/1.1\\r\\nHost: " + authority +
                      "\\r\\n\\r\\n' | socat -T 5 - TCP:" + withPort(proxy, kExplicitPort));
        return result.output.substr(0, result.output.find('\r'));
    }
    std::string refusedAnswer() const { return isSocks() ? "reply 02" : "HTTP/1.1 403 Forbidden"; }

    // The closed events in connection order: two workers may write them in another order.
    std::vector<nlohmann::json> closedInOrder(std::size_t atLeast) const {
        auto closed = lab->events("closed", atLeast);
        std::sort(closed.begin(), closed.end(),
                  [](const auto& a, const auto& b) { return a["id"] < b["id"]; });
        return closed;
    }

    std::unique_ptr<GatewayLab> lab;
    Process loopbackService;
};

class AccessControlExplicit : public AccessControl {};
class AccessControlAllModes : public AccessControl {};
class AccessControlChain : public AccessControl {};
class AccessControlSocksAuth : public AccessControl {};

TEST_P(AccessControlExplicit, EverySpellingOfTheGatewayItselfIsRefusedWithAnEvent) {
    startLab();
    struct Asked {
        std::string host;
        std::string rule;  // what refused_by starts with
    };
    const std::vector<Asked> asked = {
        {"127.0.0.1", "default deny: loopback 127.0.0.0/8"},
        {"127.1", "default deny: loopback 127.0.0.0/8"},       // a name: getaddrinfo() reads it
        {"0x7f.1", "default deny: loopback 127.0.0.0/8"},      // as inet_aton() does
        {"2130706433", "default deny: loopback 127.0.0.0/8"},  // 127.0.0.1 as one number
        {"localhost", "default deny: loopback"},               // /etc/hosts: 127.0.0.1 or ::1
        {"::1", "default deny: loopback ::1/128"},
        {"::ffff:127.0.0.1", "default deny: loopback 127.0.0.0/8"},
        {"0.0.0.0", "default deny: unspecified 0.0.0.0/8"},
        {"::", "default deny: unspecified ::/128"},
        {"169.254.169.254", "default deny: link-local 169.254.0.0/16"},
        {at().gatewayClientSide, "default deny: address of this gateway " + at().gatewayClientSide},
        {at().gatewayServerSide, "default deny: address of this gateway " + at().gatewayServerSide},
    };
    for (const auto& one : asked) {
        EXPECT_EQ(ask(one.host, kGatewayLoopbackPort), refusedAnswer()) << one.host;
    }
    auto closed = lab->events("closed", asked.size());
    ASSERT_EQ(closed.size(), asked.size());
    for (std::size_t i = 0; i < asked.size(); ++i) {
        EXPECT_EQ(closed[i]["reason"], "not_allowed") << asked[i].host << ": " << closed[i];
        EXPECT_EQ(closed[i].value("refused_by", "").rfind(asked[i].rule, 0), 0u)
            << asked[i].host << ": " << closed[i];
    }
    EXPECT_TRUE(lab->events("connected").empty()) << "nothing was connected to";
    int named = 0;
    for (const auto& accepted : lab->events("accepted")) {
        if (accepted.value("requested_host", "") == "127.1") {
            ++named;
            EXPECT_EQ(accepted["original_dst"], "127.0.0.1:7100") << "the resolved address";
        }
    }
    EXPECT_EQ(named, 1);
    // And the proxy still serves an ordinary destination.
    EXPECT_EQ(ask(at().server, kHttpPort),
              isSocks() ? "reply 00" : "HTTP/1.1 200 Connection established");
}

TEST_P(AccessControlExplicit, CurlIsToldTheGatewaysLoopbackIsNotAllowed) {
    startLab();
    const std::string proxy = withPort(at().gatewayClientSide, kExplicitPort);
    // The proxy resolves: curl --socks5-hostname sends the name, curl -p the CONNECT host.
    auto result = lab->net().exec(
        lab->net().client(), "curl -sS --max-time 5 " +
                                 (isSocks() ? "--socks5-hostname " + proxy + " http://localhost:"
                                            : "-p -x http://" + proxy + " http://127.1:") +
                                 std::to_string(kGatewayLoopbackPort) + "/");
    EXPECT_NE(result.exitCode, 0);
    EXPECT_NE(result.output.find(isSocks() ? "(2)" : "403"), std::string::npos) << result.output;
    auto closed = closedInOrder(1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "not_allowed") << closed[0];
}

TEST_P(AccessControlExplicit, AllowDestReopensTheGatewaysLoopbackService) {
    startLab({"--allow-dest", "127.0.0.1/32"});
    EXPECT_EQ(ask("127.0.0.1", kGatewayLoopbackPort),
              isSocks() ? "reply 00" : "HTTP/1.1 200 Connection established");
    EXPECT_EQ(ask("127.0.0.2", kGatewayLoopbackPort), refusedAnswer()) << "only the /32";
    auto closed = closedInOrder(2);
    ASSERT_EQ(closed.size(), 2u);
    EXPECT_NE(closed[0]["reason"], "not_allowed") << closed[0];
    EXPECT_EQ(closed[1]["refused_by"], "default deny: loopback 127.0.0.0/8") << closed[1];
}

TEST_P(AccessControlExplicit, DenyDestClosesAnAllowedDestination) {
    const std::string server = addressesFor(GetParam().family).server;
    startLab({"--deny-dest", server + (GetParam().family == Family::Ipv4 ? "/32" : "/128")});
    EXPECT_EQ(ask(server, kHttpPort), refusedAnswer());
    auto closed = closedInOrder(1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["refused_by"].get<std::string>().rfind("--deny-dest " + server, 0), 0u)
        << closed[0];
}

TEST_P(AccessControlExplicit, AllowClientServesOneClientAndRefusesAnother) {
    const Addresses& addresses = addressesFor(GetParam().family);
    startLab({"--allow-client",
              addresses.client + (GetParam().family == Family::Ipv4 ? "/32" : "/128")});
    EXPECT_EQ(ask(at().server, kHttpPort),
              isSocks() ? "reply 00" : "HTTP/1.1 200 Connection established");
    // The server's namespace, as a second client, reaches the proxy on the server side.
    EXPECT_EQ(ask(at().server, kHttpPort, lab->net().server()), refusedAnswer());
    auto closed = closedInOrder(2);
    ASSERT_EQ(closed.size(), 2u);
    EXPECT_EQ(closed[1]["reason"], "not_allowed") << closed[1];
    EXPECT_EQ(closed[1]["refused_by"], "--allow-client") << closed[1];
    EXPECT_EQ(lab->events("connected").size(), 1u) << "only the allowed client's";
}

TEST_P(AccessControlExplicit, AnAddressAddedWhileTheProxyRunsIsRefusedAndOpenAgainOnceDeleted) {
    startLab();
    const bool v4 = GetParam().family == Family::Ipv4;
    const std::string added = v4 ? "203.0.113.77" : "2001:db8:77::77";
    const std::string prefix = added + (v4 ? "/32" : "/128");
    // Netlink announces the change; the proxy reads the table again on its main thread.
    auto answerBecomes = [&](bool refused) {
        std::string answer;
        for (int attempt = 0; attempt < 50; ++attempt) {
            answer = ask(added, kGatewayLoopbackPort);
            if ((answer == refusedAnswer()) == refused) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return answer;
    };
    EXPECT_NE(ask(added, kGatewayLoopbackPort), refusedAnswer()) << "not an address of it yet";
    lab->net().mustExec(lab->net().gateway(), "ip addr add " + prefix + " dev lo");
    EXPECT_EQ(answerBecomes(true), refusedAnswer());
    lab->net().mustExec(lab->net().gateway(), "ip addr del " + prefix + " dev lo");
    EXPECT_NE(answerBecomes(false), refusedAnswer());
    bool namedTheGateway = false;
    for (const auto& closed : lab->events("closed")) {
        namedTheGateway = namedTheGateway || closed.value("refused_by", "") ==
                                                 "default deny: address of this gateway " + prefix;
    }
    EXPECT_TRUE(namedTheGateway) << lab->proxyLog();
}

TEST_P(AccessControlAllModes, ATransparentClientOutsideAllowClientIsReset) {
    startLab({"--allow-client",
              GetParam().family == Family::Ipv4 ? "203.0.113.0/24" : "2001:db8:99::/48"});
    auto result =
        lab->net().exec(lab->net().client(), std::string(TPLAB_TEST_TOOLS) + "/tcp_probe.py " +
                                                 at().server + " " + std::to_string(kHttpPort));
    EXPECT_EQ(result.output.substr(0, result.output.find('\n')), "reset") << result.output;
    auto closed = closedInOrder(1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "not_allowed") << closed[0];
    EXPECT_EQ(closed[0]["refused_by"], "--allow-client") << closed[0];
    EXPECT_TRUE(lab->events("connected").empty());
}

// With authentication configured, a client outside --allow-client must not learn whether a
// password is right: the right one fails for it as a wrong one does, while the allowed client
// logs in with it and is served.
TEST_P(AccessControlSocksAuth, ARefusedClientLearnsNothingFromTheRightPassword) {
    char dir[] = "/tmp/tplab-access-auth-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string passwordFile = writePasswordFile(dir, "s3cret");
    const bool v4 = GetParam().family == Family::Ipv4;
    startLab({"--allow-client", addressesFor(GetParam().family).client + (v4 ? "/32" : "/128"),
              "--socks-user", "alice", "--socks-password-file", passwordFile});
    auto login = [&](const std::string& ns, const std::string& proxy) {
        return lab->net()
            .exec(ns, std::string(TPLAB_TEST_TOOLS) + "/socks5_probe.py " + proxy + " " +
                          std::to_string(kExplicitPort) + " " + at().server + " " +
                          std::to_string(kHttpPort) + " --user alice --password s3cret")
            .output;
    };
    EXPECT_EQ(login(lab->net().client(), at().gatewayClientSide), "method 02\nauth 00\nreply 00\n");
    EXPECT_EQ(login(lab->net().server(), at().gatewayServerSide), "method 02\nauth 01\n");
    std::filesystem::remove_all(dir);
}

// Two explicit proxies on one gateway: without the default denial each relays into the other,
// so one client connection becomes a chain of as many tunnels as it asks for.
TEST_P(AccessControlChain, ThroughTheGatewaysOwnProxiesStopsAtTheFirstHop) {
    startLab();  // socks5; the http-connect proxy is started beside it
    constexpr int kHttpProxyPort = 3128;
    Process httpProxy = lab->net().spawn(
        lab->net().gateway(),
        {TPLAB_BINARY, "proxy", "--mode", "http-connect", "--listen",
         "[::]:" + std::to_string(kHttpProxyPort), "--events", lab->workdir() + "/http.jsonl"},
        lab->workdir() + "/http-proxy.log");
    ASSERT_TRUE(lab->net().waitListening(lab->net().gateway(), kHttpProxyPort));
    auto result =
        lab->net().exec(lab->net().client(),
                        std::string(TPLAB_TEST_TOOLS) + "/proxy_chain.py " +
                            at().gatewayClientSide + " " + std::to_string(kExplicitPort) + " " +
                            at().gatewayClientSide + " " + std::to_string(kHttpProxyPort) + " " +
                            at().server + " " + std::to_string(kHttpPort) + " --hops 50");
    EXPECT_EQ(result.output, "hops 0\nrefused at hop 1: reply 02\n");
    auto accepted = lab->events("accepted", 1);
    EXPECT_EQ(accepted.size(), 1u);
    EXPECT_TRUE(lab->events("connected").empty());
    auto closed = closedInOrder(1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["refused_by"], "default deny: address of this gateway " +
                                           at().gatewayClientSide +
                                           (GetParam().family == Family::Ipv4 ? "/32" : "/128"));
    std::ifstream httpEvents(lab->workdir() + "/http.jsonl");
    std::string line;
    int httpAccepted = 0;
    while (std::getline(httpEvents, line)) {
        httpAccepted += line.find("\"event\":\"accepted\"") != std::string::npos;
    }
    EXPECT_EQ(httpAccepted, 0) << "the HTTP CONNECT proxy never saw a connection";
    httpProxy.stop();
}

INSTANTIATE_TEST_SUITE_P(, AccessControlExplicit,
                         ::testing::Values(AccessCase{"socks5", Family::Ipv4},
                                           AccessCase{"socks5", Family::Ipv6},
                                           AccessCase{"http-connect", Family::Ipv4},
                                           AccessCase{"http-connect", Family::Ipv6}),
                         caseName);
INSTANTIATE_TEST_SUITE_P(, AccessControlChain,
                         ::testing::Values(AccessCase{"socks5", Family::Ipv4},
                                           AccessCase{"socks5", Family::Ipv6}),
                         caseName);
INSTANTIATE_TEST_SUITE_P(, AccessControlSocksAuth,
                         ::testing::Values(AccessCase{"socks5", Family::Ipv4},
                                           AccessCase{"socks5", Family::Ipv6}),
                         caseName);
INSTANTIATE_TEST_SUITE_P(, AccessControlAllModes,
                         ::testing::Values(AccessCase{"redirect", Family::Ipv4},
                                           AccessCase{"tproxy", Family::Ipv6}),
                         caseName);

}  // namespace
}  // namespace tplab::test
