// The explicit modes (socks5, http-connect) and transparent-in/SOCKS5-out (--upstream), in
// real namespaces with real clients: curl --socks5, --socks5-hostname, --proxytunnel, a
// byte-level SOCKS5 probe for the reply codes, and microsocks as the next proxy.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include "gateway_lab.hpp"

namespace tplab::test {
namespace {

struct ExplicitCase {
    std::string mode;
    Family family;
};

std::string caseName(const ::testing::TestParamInfo<ExplicitCase>& info) {
    std::string mode = info.param.mode == "http-connect" ? "http_connect" : info.param.mode;
    return mode + (info.param.family == Family::Ipv4 ? "_ipv4" : "_ipv6");
}

std::string firstLine(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

class ExplicitProxy : public ::testing::TestWithParam<ExplicitCase> {
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
    }
    void startLab(ProxyLaunch launch = {}) {
        lab = std::make_unique<GatewayLab>(GetParam().mode, GetParam().family, false,
                                           std::move(launch));
    }
    const Addresses& at() const { return lab->addresses(); }
    bool isSocks() const { return GetParam().mode == "socks5"; }
    std::string proxyAddress() const { return withPort(at().gatewayClientSide, kExplicitPort); }
    // curl configured with the proxy: --socks5 (the client resolves), --socks5-hostname (the
    // proxy does), or an HTTP proxy with CONNECT (--proxytunnel).
    CommandResult curl(const std::string& url, const std::string& output,
                       const std::string& socksFlag = "--socks5", const std::string& extra = "") {
        std::string proxy = isSocks() ? socksFlag + " " + proxyAddress()
                                      : "--proxytunnel --proxy http://" + proxyAddress();
        return lab->net().exec(lab->net().client(), "curl -sS --max-time 20 " + proxy + " " +
                                                        extra + " -o " + output + " " + url);
    }
    std::string probe(const std::string& arguments) {
        auto result = lab->net().exec(
            lab->net().client(), std::string(TPLAB_TEST_TOOLS) + "/socks5_probe.py " +
                                     at().gatewayClientSide + " " + std::to_string(kExplicitPort) +
                                     " " + arguments);
        return result.output;
    }
    std::string blobUrl() const {
        return "http://" + withPort(at().server, kHttpPort) + "/blob.bin";
    }

    std::unique_ptr<GatewayLab> lab;
};

class Socks5Only : public ExplicitProxy {};

TEST_P(ExplicitProxy, DownloadOfFourMegabytesIsByteExactAndTheEventSaysTheRequestNamedIt) {
    startLab();
    std::string downloaded = lab->workdir() + "/downloaded.bin";
    auto result = curl(blobUrl(), downloaded);
    ASSERT_EQ(result.exitCode, 0) << result.output;
    EXPECT_EQ(lab->sha256(downloaded), lab->sha256(lab->blobPath()));
    auto accepted = lab->events("accepted", 1);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["mode"], GetParam().mode);
    EXPECT_EQ(accepted[0]["recovered_by"], isSocks() ? "SOCKS5 request" : "HTTP CONNECT request");
    EXPECT_EQ(accepted[0]["original_dst"], withPort(at().server, kHttpPort));
    EXPECT_EQ(accepted[0]["local"], proxyAddress());
    auto connected = lab->events("connected", 1);
    ASSERT_EQ(connected.size(), 1u);
    EXPECT_EQ(connected[0]["upstream_peer"], withPort(at().server, kHttpPort));
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "normal");
    // The server sees the proxy, not the client.
    EXPECT_NE(lab->httpServerLog().find(at().gatewayServerSide), std::string::npos)
        << lab->httpServerLog();
}

TEST_P(ExplicitProxy, ANameInTheRequestIsResolvedByTheProxy) {
    startLab();
    // A numeric name still takes the name path (SOCKS5 ATYP 0x03, CONNECT host:port) through
    // getaddrinfo() on the proxy; "localhost" would be the gateway itself.
    std::string downloaded = lab->workdir() + "/downloaded.bin";
    auto result = curl(blobUrl(), downloaded, "--socks5-hostname");
    ASSERT_EQ(result.exitCode, 0) << result.output;
    EXPECT_EQ(lab->sha256(downloaded), lab->sha256(lab->blobPath()));
    auto accepted = lab->events("accepted", 1);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["original_dst"], withPort(at().server, kHttpPort));
}

TEST_P(ExplicitProxy, RefusedDestinationGetsTheProtocolsErrorAndTheProxyKeepsServing) {
    startLab();
    std::string url = "http://" + withPort(at().server, kClosedPort) + "/";
    auto refused = curl(url, "/dev/null");
    EXPECT_NE(refused.exitCode, 0);
    EXPECT_NE(refused.output.find(isSocks() ? "(5)" : "502"), std::string::npos) << refused.output;
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "connect_refused");
    std::string downloaded = lab->workdir() + "/downloaded.bin";
    ASSERT_EQ(curl(blobUrl(), downloaded).exitCode, 0);
    EXPECT_EQ(lab->sha256(downloaded), lab->sha256(lab->blobPath()));
}

TEST_P(ExplicitProxy, UsernameAndPasswordAreCheckedAndAWrongOneIsRefused) {
    char dir[] = "/tmp/tplab-it-pw-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    std::string passwordFile = writePasswordFile(dir, "s3cret");
    startLab({{}, {"--socks-user", "alice", "--socks-password-file", passwordFile}});
    std::string downloaded = lab->workdir() + "/downloaded.bin";
    auto good = curl(blobUrl(), downloaded, "--socks5", "--proxy-user alice:s3cret");
    ASSERT_EQ(good.exitCode, 0) << good.output;
    EXPECT_EQ(lab->sha256(downloaded), lab->sha256(lab->blobPath()));
    auto bad = curl(blobUrl(), "/dev/null", "--socks5", "--proxy-user alice:wrong");
    EXPECT_NE(bad.exitCode, 0);
    auto none = curl(blobUrl(), "/dev/null");
    EXPECT_NE(none.exitCode, 0);
    auto closed = lab->events("closed", 3);
    ASSERT_EQ(closed.size(), 3u);
    EXPECT_EQ(closed[1]["reason"], "handshake_failed");
    EXPECT_NE(closed[1]["detail"].get<std::string>().find("authentication failed for user "
                                                          "'alice'"),
              std::string::npos)
        << closed[1];
    EXPECT_EQ(closed[1]["detail"].get<std::string>().find("wrong"), std::string::npos)
        << "the password must not be logged";
    runShell(std::string("rm -rf ") + dir);
}

TEST_P(ExplicitProxy, SilentClientIsClosedAfterTheConnectTimeout) {
    startLab({{}, {"--connect-timeout", "1"}});
    auto started = std::chrono::steady_clock::now();
    auto result = lab->net().exec(lab->net().client(),
                                  std::string(TPLAB_TEST_TOOLS) + "/tcp_probe.py " +
                                      at().gatewayClientSide + " " + std::to_string(kExplicitPort));
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
    EXPECT_EQ(firstLine(result.output), "reset");
    EXPECT_LT(seconds.count(), 5.0);
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "connect_timeout");
    EXPECT_NE(closed[0]["detail"].get<std::string>().find("no complete"), std::string::npos);
}

TEST_P(Socks5Only, ReplyCodesSayRefusedUnreachableAndUnsupported) {
    startLab();
    EXPECT_EQ(probe(at().server + " " + std::to_string(kClosedPort)), "method 00\nreply 05\n");
    // No route to this documentation network from the gateway: ENETUNREACH.
    std::string nowhere = GetParam().family == Family::Ipv4 ? "203.0.113.99" : "2001:db8:99::1";
    EXPECT_EQ(probe(nowhere + " 80"), "method 00\nreply 03\n");
    EXPECT_EQ(probe(at().server + " 80 --command 2"), "method 00\nreply 07\n");
    EXPECT_EQ(probe(at().server + " 80"), "method 00\nreply 00\n");
    auto closed = lab->events("closed", 4);
    ASSERT_EQ(closed.size(), 4u);
    EXPECT_EQ(closed[0]["reason"], "connect_refused");
    EXPECT_EQ(closed[1]["reason"], "connect_failed");
    EXPECT_NE(closed[1]["detail"].get<std::string>().find("unreachable"), std::string::npos);
    EXPECT_EQ(closed[2]["reason"], "handshake_failed");
    EXPECT_NE(closed[2]["detail"].get<std::string>().find("0x02 (BIND) is not supported"),
              std::string::npos)
        << closed[2];
    // closed[3]: the probe hangs up after the reply's first 4 bytes (client_reset or normal).
}

TEST_P(Socks5Only, MalformedBytesCloseThatConnectionOnlyWithAnEvent) {
    startLab();
    auto closedWithoutAnswer = [](const std::string& output) {
        return output == "eof\n" || output == "reset\n";
    };
    EXPECT_PRED1(closedWithoutAnswer, probe("--raw 04010050c6336402"));          // SOCKS4
    EXPECT_PRED1(closedWithoutAnswer, probe("--raw 474554202f20485454502f31"));  // GET / HTTP/1
    EXPECT_EQ(probe("--raw 0500"), "answer 05ff\n");  // no method offered
    auto closed = lab->events("closed", 3);
    ASSERT_EQ(closed.size(), 3u);
    for (const auto& event : closed) {
        EXPECT_EQ(event["reason"], "handshake_failed") << event;
    }
    EXPECT_NE(closed[0]["detail"].get<std::string>().find("version 0x04"), std::string::npos);
    EXPECT_NE(closed[1]["detail"].get<std::string>().find("version 0x47"), std::string::npos);
    std::string downloaded = lab->workdir() + "/downloaded.bin";
    ASSERT_EQ(curl(blobUrl(), downloaded).exitCode, 0);
    EXPECT_EQ(lab->sha256(downloaded), lab->sha256(lab->blobPath()));
}

INSTANTIATE_TEST_SUITE_P(, ExplicitProxy,
                         ::testing::Values(ExplicitCase{"socks5", Family::Ipv4},
                                           ExplicitCase{"socks5", Family::Ipv6},
                                           ExplicitCase{"http-connect", Family::Ipv4},
                                           ExplicitCase{"http-connect", Family::Ipv6}),
                         caseName);
INSTANTIATE_TEST_SUITE_P(, Socks5Only,
                         ::testing::Values(ExplicitCase{"socks5", Family::Ipv4},
                                           ExplicitCase{"socks5", Family::Ipv6}),
                         caseName);

// Transparent in, SOCKS5 out: microsocks listens in the server's namespace; the proxy writes
// the destination the kernel gave it into a SOCKS5 CONNECT to it.
class SocksUpstream : public ::testing::TestWithParam<ExplicitCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        if (runShell("command -v microsocks").exitCode != 0) {
            GTEST_SKIP() << "microsocks is not installed (apt-get install microsocks)";
        }
        const Addresses& addresses = addressesFor(GetParam().family);
        socksServer = withPort(addresses.server, kSocksServerPort);
        lab = std::make_unique<GatewayLab>(
            GetParam().mode, GetParam().family, false,
            ProxyLaunch{{}, {"--upstream", "socks5://" + socksServer}});
        microsocks = lab->net().spawn(
            lab->net().server(),
            {"microsocks", "-i", addresses.server, "-p", std::to_string(kSocksServerPort)},
            lab->workdir() + "/microsocks.log");
        ASSERT_TRUE(lab->net().waitListening(lab->net().server(), kSocksServerPort));
    }
    void TearDown() override {
        if (lab && HasFailure()) {
            std::cerr << "proxy log:\n" << lab->proxyLog();
        }
        microsocks.stop();
    }
    static constexpr int kSocksServerPort = 1080;
    std::string socksServer;
    std::unique_ptr<GatewayLab> lab;
    Process microsocks;
};

TEST_P(SocksUpstream, InterceptedDownloadGoesThroughTheNextProxyByteExact) {
    const Addresses& at = lab->addresses();
    std::string downloaded = lab->workdir() + "/downloaded.bin";
    auto result = lab->net().exec(lab->net().client(),
                                  "curl -sS --max-time 20 -o " + downloaded + " http://" +
                                      withPort(at.server, kHttpPort) + "/blob.bin");
    ASSERT_EQ(result.exitCode, 0) << result.output;
    EXPECT_EQ(lab->sha256(downloaded), lab->sha256(lab->blobPath()));
    auto accepted = lab->events("accepted", 1);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["original_dst"], withPort(at.server, kHttpPort));
    auto connected = lab->events("connected", 1);
    ASSERT_EQ(connected.size(), 1u);
    EXPECT_EQ(connected[0]["upstream_peer"], socksServer);
    // microsocks, on the server's own address, opened the connection the server saw.
    EXPECT_EQ(lab->httpServerLog().find(at.gatewayServerSide), std::string::npos)
        << lab->httpServerLog();
    EXPECT_NE(lab->httpServerLog().find(at.server), std::string::npos) << lab->httpServerLog();
}

TEST_P(SocksUpstream, TheNextProxysRefusalResetsTheClientWithItsReasonInTheEvent) {
    const Addresses& at = lab->addresses();
    auto result =
        lab->net().exec(lab->net().client(), std::string(TPLAB_TEST_TOOLS) + "/tcp_probe.py " +
                                                 at.server + " " + std::to_string(kClosedPort));
    EXPECT_EQ(firstLine(result.output), "reset");
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "connect_failed");
    EXPECT_NE(closed[0]["detail"].get<std::string>().find("replied 0x0"), std::string::npos)
        << closed[0];
}

INSTANTIATE_TEST_SUITE_P(, SocksUpstream,
                         ::testing::Values(ExplicitCase{"redirect", Family::Ipv4},
                                           ExplicitCase{"redirect", Family::Ipv6},
                                           ExplicitCase{"tproxy", Family::Ipv4},
                                           ExplicitCase{"tproxy", Family::Ipv6}),
                         caseName);

// Bad input: one line naming the problem, exit 2.
struct BadCli {
    std::string arguments;
    std::string says;
};

class ExplicitProxyCli : public ::testing::TestWithParam<BadCli> {};

TEST_P(ExplicitProxyCli, BadInputExitsTwoWithOneLine) {
    auto result = runShell(std::string(TPLAB_BINARY) + " proxy " + GetParam().arguments);
    EXPECT_EQ(result.exitCode, 2) << result.output;
    std::string output = result.output;
    while (!output.empty() && output.back() == '\n') {
        output.pop_back();
    }
    EXPECT_EQ(output.find('\n'), std::string::npos) << output;
    EXPECT_NE(output.find(GetParam().says), std::string::npos) << output;
}

INSTANTIATE_TEST_SUITE_P(
    , ExplicitProxyCli,
    ::testing::Values(
        BadCli{"--mode socks5 --listen 127.0.0.1:1 --socks-user alice", "go together"},
        BadCli{"--mode socks5 --listen 127.0.0.1:1 --socks-user alice --socks-password-file "
               "/nonexistent/pw",
               "No such file"},
        BadCli{"--mode redirect --listen 127.0.0.1:1 --socks-user a --socks-password-file /x",
               "not redirect"},
        BadCli{"--mode socks5 --listen 127.0.0.1:1 --udp", "TCP only"},
        BadCli{"--mode redirect --listen 127.0.0.1:1 --upstream http://198.51.100.3:1080",
               "socks5://"},
        BadCli{"--mode redirect --listen 127.0.0.1:1 --upstream socks5://proxy.example:1080",
               "names are not resolved"},
        BadCli{"--mode tproxy --listen 127.0.0.1:1 --udp --upstream socks5://198.51.100.3:1080",
               "TCP only"},
        BadCli{"--mode socks --listen 127.0.0.1:1", "socks"}));

}  // namespace
}  // namespace tplab::test
