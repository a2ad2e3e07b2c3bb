// Both modes, both families, in real namespaces with real clients and servers: curl against
// python's http.server, socat against a socat echo, and the proxy's events checked against
// what really happened.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "gateway_lab.hpp"
#include "policy_routed_gateway.hpp"

namespace tplab::test {
namespace {

struct ModeCase {
    std::string mode;
    Family family;
};

std::string caseName(const ::testing::TestParamInfo<ModeCase>& info) {
    std::string mode = info.param.mode;
    std::replace(mode.begin(), mode.end(), '-', '_');  // a test name is [A-Za-z0-9_]
    return mode + (info.param.family == Family::Ipv4 ? "_ipv4" : "_ipv6");
}

class ProxyModes : public ::testing::TestWithParam<ModeCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        lab = std::make_unique<GatewayLab>(GetParam().mode, GetParam().family);
    }
    void TearDown() override {
        if (lab && HasFailure()) {
            std::cerr << "proxy log:\n" << lab->proxyLog();
        }
    }
    const Addresses& at() const { return lab->addresses(); }
    bool isRedirect() const { return GetParam().mode == "redirect"; }

    // What a client sees first when it connects: "reset", "refused", "eof", "data", "timeout".
    std::string probeFromClient(const std::string& address, int port) {
        auto result =
            lab->net().exec(lab->net().client(), std::string(TPLAB_TEST_TOOLS) + "/tcp_probe.py " +
                                                     address + " " + std::to_string(port));
        return result.output.substr(0, result.output.find('\n'));
    }

    CommandResult curlFromClient(const std::string& hostPort, const std::string& path,
                                 const std::string& output) {
        return lab->net().exec(lab->net().client(), "curl -sS --max-time 20 -o " + output +
                                                        " http://" + hostPort + path);
    }

    std::unique_ptr<GatewayLab> lab;
};

TEST_P(ProxyModes, HttpDownloadIsByteExactAndTheEventNamesTheTrueServer) {
    std::string downloaded = lab->workdir() + "/downloaded.bin";
    auto curl = curlFromClient(withPort(at().server, kHttpPort), "/blob.bin", downloaded);
    ASSERT_EQ(curl.exitCode, 0) << curl.output;
    EXPECT_EQ(lab->sha256(downloaded), lab->sha256(lab->blobPath()));

    auto accepted = lab->events("accepted", 1);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["client"].get<std::string>().rfind(urlHost(at().client) + ":", 0), 0u)
        << accepted[0];
    EXPECT_EQ(accepted[0]["original_dst"], withPort(at().server, kHttpPort));
    if (isRedirect()) {
        // NAT rewrote the destination: the proxy's socket is on the gateway's own address.
        EXPECT_EQ(accepted[0]["local"], withPort(at().gatewayClientSide, kRedirectPort));
        EXPECT_EQ(accepted[0]["recovered_by"],
                  GetParam().family == Family::Ipv4 ? "SO_ORIGINAL_DST" : "IP6T_SO_ORIGINAL_DST");
    } else {
        // Nothing was rewritten: the accepted socket's own address is the server's.
        EXPECT_EQ(accepted[0]["local"], withPort(at().server, kHttpPort));
        EXPECT_EQ(accepted[0]["recovered_by"], "getsockname");
    }
    auto connected = lab->events("connected", 1);
    ASSERT_EQ(connected.size(), 1u);
    EXPECT_EQ(connected[0]["upstream_peer"], withPort(at().server, kHttpPort));
    EXPECT_EQ(connected[0]["upstream_local"].get<std::string>().rfind(
                  urlHost(at().gatewayServerSide) + ":", 0),
              0u)
        << "without spoofing the server sees the gateway: " << connected[0];
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "normal");
    EXPECT_GE(closed[0]["bytes_upstream_to_client"].get<std::uint64_t>(), 4194304u);
}

TEST_P(ProxyModes, SocatEchoOfFourMegabytesIsByteExactBothWays) {
    std::string echoed = lab->workdir() + "/echoed.bin";
    auto socat = lab->net().exec(
        lab->net().client(), "socat -t 20 -T 20 - TCP:" + withPort(at().server, kEchoPort) + " < " +
                                 lab->blobPath() + " > " + echoed);
    ASSERT_EQ(socat.exitCode, 0) << socat.output;
    EXPECT_EQ(lab->sha256(echoed), lab->sha256(lab->blobPath()));
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "normal");
    EXPECT_EQ(closed[0]["bytes_client_to_upstream"], 4194304u);
    EXPECT_EQ(closed[0]["bytes_upstream_to_client"], 4194304u);
}

TEST_P(ProxyModes, RefusedUpstreamResetsTheClient) {
    // Without the proxy the client would get a RST to its SYN; through it, the handshake with
    // the proxy completes first, so the closest the proxy can do is reset at once.
    EXPECT_EQ(probeFromClient(at().server, kClosedPort), "reset");
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "connect_refused");
    EXPECT_EQ(lab->events("connected").size(), 0u);
}

TEST_P(ProxyModes, ConnectionStraightToTheListenerIsRefusedAndTheProxyKeepsServing) {
    // The client dials the proxy port itself: no rule rewrites or marks it, so the recovered
    // destination is the listener. A naive proxy would connect to itself until out of fds.
    EXPECT_EQ(probeFromClient(at().gatewayClientSide, lab->proxyPort()), "reset");
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "loop_refused") << closed[0];
    EXPECT_EQ(lab->events("connected").size(), 0u) << "the proxy connected to itself";

    auto served = curlFromClient(withPort(at().server, kHttpPort), "/index.html", "-");
    EXPECT_EQ(served.exitCode, 0) << served.output;
    EXPECT_EQ(served.output, "served by server\n");
}

TEST_P(ProxyModes, StopsOnSigtermWithExitZeroAndAStatsLine) {
    auto served = curlFromClient(withPort(at().server, kHttpPort), "/index.html", "-");
    ASSERT_EQ(served.exitCode, 0) << served.output;
    lab->events("closed", 1);
    lab->proxy().signal(SIGTERM);
    EXPECT_EQ(lab->proxy().wait(std::chrono::seconds(5)), 0) << lab->proxyLog();
    auto stats = lab->events("stats", 1);
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0]["trigger"], "exit");
    EXPECT_EQ(stats[0]["accepted"], 1);
    EXPECT_EQ(stats[0]["closed"]["normal"], 1);
}

INSTANTIATE_TEST_SUITE_P(
    , ProxyModes,
    ::testing::Values(ModeCase{"redirect", Family::Ipv4}, ModeCase{"redirect", Family::Ipv6},
                      ModeCase{"tproxy", Family::Ipv4}, ModeCase{"tproxy", Family::Ipv6},
                      ModeCase{"anyip", Family::Ipv4}, ModeCase{"anyip", Family::Ipv6},
                      ModeCase{"sk-lookup", Family::Ipv4}, ModeCase{"sk-lookup", Family::Ipv6}),
    caseName);

// AnyIP: what is (not) there in the gateway, and why the listener must be transparent.
class AnyipOnly : public PolicyRoutedGateway {
  protected:
    AnyipOnly() : PolicyRoutedGateway("anyip") {}
};

TEST_F(AnyipOnly, TheGatewayHasNoFirewallRuleAndNoConntrackEntry) {
    auto served = curlIndex();
    ASSERT_EQ(served.output, "served by server\n") << lab->proxyLog();
    ASSERT_EQ(lab->events("closed", 1).size(), 1u);
    expectNoNetfilterState();
    const std::string& gw = lab->net().gateway();
    auto routed = lab->net().exec(gw, "ip -4 rule show; ip -4 route show table 100");
    EXPECT_NE(routed.output.find("iif veth-c ipproto tcp dport 80 lookup 100"), std::string::npos)
        << routed.output;
    EXPECT_NE(routed.output.find("local default dev lo"), std::string::npos) << routed.output;
}

TEST_F(AnyipOnly, APlainListenerCannotAnswerForAnotherHostsAddress) {
    // Without IP_TRANSPARENT the SYN-ACK would leave from an address that is not the host's own
    // (the `local` route is in table 100, not in the local table): the SYN is dropped and
    // counted as a listen drop, and the client times out.
    lab->proxy().stop();
    const std::string& gw = lab->net().gateway();
    auto plain =
        lab->net().spawn(gw, {"socat", "TCP-LISTEN:80,reuseaddr,fork", "SYSTEM:echo plain"},
                         lab->workdir() + "/plain.log");
    ASSERT_TRUE(lab->net().waitListening(gw, kHttpPort));
    auto dropsBefore = lab->net().exec(gw, "nstat -az -j TcpExtListenDrops");
    auto timedOut = curlIndex();
    EXPECT_EQ(timedOut.exitCode, 28) << timedOut.output;
    auto drops = [](const std::string& json) {
        auto parsed = nlohmann::json::parse(json, nullptr, false);
        return parsed.is_discarded() ? -1 : parsed["kernel"]["TcpExtListenDrops"].get<int>();
    };
    auto dropsAfter = lab->net().exec(gw, "nstat -az -j TcpExtListenDrops");
    EXPECT_GT(drops(dropsAfter.output), drops(dropsBefore.output))
        << dropsBefore.output << dropsAfter.output;
    plain.stop();
}

class RedirectOnly : public ::testing::Test {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        lab = std::make_unique<GatewayLab>("redirect", Family::Ipv4);
    }
    std::string probe(const std::string& arguments) {
        auto result = lab->net().exec(lab->net().client(),
                                      std::string(TPLAB_TEST_TOOLS) + "/tcp_probe.py " + arguments);
        return result.output.substr(0, result.output.find('\n'));
    }
    void expectStillServing() {
        auto served = lab->net().exec(lab->net().client(),
                                      "curl -sS --max-time 10 http://198.51.100.2/index.html");
        EXPECT_EQ(served.output, "served by server\n") << "the proxy must keep serving";
    }
    std::unique_ptr<GatewayLab> lab;
};

TEST_F(RedirectOnly, DualStackListenerAsksIpv4ClientsWithTheIpv4Call) {
    const auto& at = lab->addresses();
    auto served = lab->net().exec(lab->net().client(),
                                  "curl -sS --max-time 10 http://" + at.server + "/index.html");
    ASSERT_EQ(served.exitCode, 0) << served.output;
    EXPECT_EQ(served.output, "served by server\n");
    auto accepted = lab->events("accepted", 1);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["listener"], "[::]:15001");
    EXPECT_EQ(accepted[0]["client"].get<std::string>().rfind("192.0.2.2:", 0), 0u)
        << "the IPv4-mapped client is shown as plain IPv4: " << accepted[0];
    EXPECT_EQ(accepted[0]["recovered_by"], "SO_ORIGINAL_DST");
    EXPECT_EQ(accepted[0]["original_dst"], "198.51.100.2:80");
}

TEST_F(RedirectOnly, UntrackedConnectionIsReportedAsNotRedirected) {
    // NOTRACK both ways for one client port: conntrack has no entry, SO_ORIGINAL_DST says ENOENT.
    const std::string& gw = lab->net().gateway();
    lab->net().mustExec(gw, "iptables -t raw -A PREROUTING -p tcp --sport 40001 -j NOTRACK");
    lab->net().mustExec(gw, "iptables -t raw -A OUTPUT -p tcp --dport 40001 -j NOTRACK");
    EXPECT_EQ(probe("192.0.2.1 15001 --source-port 40001"), "reset");
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "not_redirected") << closed[0];
    auto accepted = lab->events("accepted", 1);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_TRUE(accepted[0]["original_dst"].is_null());
    EXPECT_NE(accepted[0]["lookup_error"].get<std::string>().find("No such file"),
              std::string::npos)
        << accepted[0];
    expectStillServing();
}

TEST_F(RedirectOnly, UntrackedSynWhoseRepliesAreTrackedIsReportedAsNotRedirected) {
    // NOTRACK on the way in only. The gateway's ACK of the client's data leaves through OUTPUT,
    // where conntrack picks the connection up mid-stream with the ORIGINAL direction running
    // gateway -> client: SO_ORIGINAL_DST then names the client itself. The proxy is paused so
    // that ACK certainly leaves before it asks.
    lab->net().mustExec(lab->net().gateway(),
                        "iptables -t raw -A PREROUTING -p tcp --sport 40002 -j NOTRACK");
    lab->proxy().signal(SIGSTOP);
    Process client = lab->net().spawn(lab->net().client(),
                                      {std::string(TPLAB_TEST_TOOLS) + "/tcp_probe.py", "192.0.2.1",
                                       "15001", "--send", "hello", "--source-port", "40002"},
                                      lab->workdir() + "/probe.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    lab->proxy().signal(SIGCONT);
    EXPECT_EQ(client.wait(std::chrono::seconds(10)), 0);
    EXPECT_EQ(runShell("cat " + lab->workdir() + "/probe.log").output, "reset\n");
    auto accepted = lab->events("accepted", 1);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_TRUE(accepted[0]["original_dst"].is_null()) << accepted[0];
    EXPECT_NE(accepted[0]["lookup_error"].get<std::string>().find("client's own address"),
              std::string::npos)
        << accepted[0];
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "not_redirected") << closed[0];
    expectStillServing();
}

}  // namespace
}  // namespace tplab::test
