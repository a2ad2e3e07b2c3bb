// sk-lookup: what the gateway holds (a BPF link, no firewall rule, no conntrack entry), what the
// program leaves alone, and that nothing outlives the proxy.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gateway_lab.hpp"
#include "policy_routed_gateway.hpp"

namespace tplab::test {
namespace {

// The sk_lookup links attached to the gateway's network namespace, as bpftool shows them.
std::vector<nlohmann::json> skLookupLinks(GatewayLab& lab) {
    auto inode = lab.net().exec(lab.net().gateway(), "stat -L -c %i /proc/self/ns/net");
    auto links = runShell("bpftool -j link show");
    std::vector<nlohmann::json> found;
    auto parsed = nlohmann::json::parse(links.output, nullptr, false);
    if (inode.exitCode != 0 || parsed.is_discarded()) {
        ADD_FAILURE() << inode.output << links.output;
        return found;
    }
    for (const auto& link : parsed) {
        if (link.value("type", "") == "netns" && link.value("attach_type", "") == "sk_lookup" &&
            std::to_string(link.value("netns_ino", 0ULL)) + "\n" == inode.output) {
            found.push_back(link);
        }
    }
    return found;
}

// The program's tplab_counters, summed over the CPUs, by name: steered, no_socket,
// assign_failed, outside_prefixes (bpftool's BTF-formatted dump of the map of the gateway's link).
std::map<std::string, std::uint64_t> programCounters(GatewayLab& lab) {
    static const char* const kNames[] = {"steered", "no_socket", "assign_failed",
                                         "outside_prefixes"};
    std::map<std::string, std::uint64_t> counters;
    auto links = skLookupLinks(lab);
    if (links.size() != 1) {
        ADD_FAILURE() << links.size() << " sk_lookup links in the gateway's namespace";
        return counters;
    }
    auto program = nlohmann::json::parse(
        runShell("bpftool -j prog show id " + std::to_string(links[0].value("prog_id", 0))).output,
        nullptr, false);
    for (const auto& id : program.is_discarded() ? nlohmann::json::array() : program["map_ids"]) {
        auto map = nlohmann::json::parse(
            runShell("bpftool -j map show id " + std::to_string(id.get<int>())).output, nullptr,
            false);
        if (map.is_discarded() || map.value("name", "") != "tplab_counters") {
            continue;
        }
        auto dump = runShell("bpftool -j map dump id " + std::to_string(id.get<int>()));
        auto entries = nlohmann::json::parse(dump.output, nullptr, false);
        for (const auto& entry : entries.is_discarded() ? nlohmann::json::array() : entries) {
            const auto& formatted = entry.contains("formatted") ? entry["formatted"] : entry;
            auto key = formatted.value("key", 99u);
            if (key >= std::size(kNames)) {
                ADD_FAILURE() << "unexpected counter key in " << dump.output;
                continue;
            }
            std::uint64_t total = 0;
            for (const auto& value : formatted["values"]) {
                total += value.value("value", std::uint64_t{0});
            }
            counters[kNames[key]] = total;
        }
    }
    if (counters.size() != std::size(kNames)) {
        ADD_FAILURE() << "tplab_counters not found or incomplete in the program's maps";
    }
    return counters;
}

class SkLookupOnly : public PolicyRoutedGateway {
  protected:
    SkLookupOnly() : PolicyRoutedGateway("sk-lookup") {}
    // What a client sees first; a black hole shows as "timeout" after 3 s.
    std::string probeFromClient(int port) {
        auto result =
            lab->net().exec(lab->net().client(), std::string(TPLAB_TEST_TOOLS) +
                                                     "/tcp_probe.py --timeout 3 198.51.100.2 " +
                                                     std::to_string(port));
        return result.output.substr(0, result.output.find('\n'));
    }
    std::vector<nlohmann::json> gatewayLinks() { return skLookupLinks(*lab); }
};

TEST_F(SkLookupOnly, TheGatewayHoldsOneBpfLinkAndNoFirewallRuleOrConntrackEntry) {
    auto served = curlIndex();
    ASSERT_EQ(served.output, "served by server\n") << lab->proxyLog();
    auto accepted = lab->events("accepted", 1);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["recovered_by"], "getsockname");
    EXPECT_EQ(accepted[0]["original_dst"], "198.51.100.2:80");
    expectNoNetfilterState();

    auto links = gatewayLinks();
    ASSERT_EQ(links.size(), 1u) << "one sk_lookup link in the gateway's namespace";
    auto program =
        runShell("bpftool -j prog show id " + std::to_string(links[0].value("prog_id", 0)));
    auto parsed = nlohmann::json::parse(program.output, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << program.output;
    EXPECT_EQ(parsed.value("name", ""), "tplab_steer");
    EXPECT_EQ(parsed.value("type", ""), "sk_lookup");
}

TEST_F(SkLookupOnly, APortTheProgramDoesNotSteerIsABlackHole) {
    // Port 8081 is made local like the steered ones, but the program's port map lacks it: the
    // kernel's own lookup runs and finds no socket. Its RST would leave from 198.51.100.2, an
    // address that is local only in table 100, and with no transparent socket to vouch for it
    // the route lookup refuses that source: no RST, the client times out.
    lab->net().mustExec(lab->net().gateway(),
                        "ip -4 rule add iif veth-c ipproto tcp dport 8081 lookup 100");
    EXPECT_EQ(probeFromClient(8081), "timeout");
    EXPECT_EQ(lab->events("accepted").size(), 0u) << "the proxy accepted an unsteered port";
    auto served = curlIndex();
    EXPECT_EQ(served.output, "served by server\n") << "steered ports keep working";
}

TEST_F(SkLookupOnly, TheProgramIsDetachedWhenTheProxyIsKilled) {
    ASSERT_EQ(gatewayLinks().size(), 1u);
    lab->proxy().signal(SIGKILL);
    lab->proxy().wait(std::chrono::seconds(5));
    // The link was an fd of the process: the kernel released it with the process. Its release
    // may trail the exit by a moment (the fd is closed by a deferred task).
    for (int i = 0; i < 50 && !gatewayLinks().empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(gatewayLinks().size(), 0u) << "a link outlived the proxy";
    // Nothing is steered any more, and the route still makes the address local: the SYN finds
    // no socket and, as for an unsteered port, no RST can leave. A dead proxy is a black hole
    // until `tplab rules --remove` takes the route away.
    EXPECT_EQ(probeFromClient(kHttpPort), "timeout");
}

TEST_F(SkLookupOnly, TheDoctorSeesTheLinkAndTheListenerAndNamesWhatIsMissing) {
    auto doctor = [&] {
        auto result = lab->net().exec(
            lab->net().gateway(),
            std::string(TPLAB_BINARY) + " doctor --mode sk-lookup --port 15002 --json");
        std::map<std::string, std::string> severities;
        auto report = nlohmann::json::parse(result.output, nullptr, false);
        if (!report.is_discarded()) {
            for (const auto& finding : report["findings"]) {
                severities[finding["id"]] = finding["severity"];
            }
        }
        return std::pair{result.exitCode, severities};
    };
    auto [healthyExit, healthy] = doctor();
    EXPECT_EQ(healthy["sk_lookup.link"], "ok");
    EXPECT_EQ(healthy["sk_lookup.socket_map"], "ok");
    EXPECT_EQ(healthy["local_route.ipv4"], "ok");
    EXPECT_EQ(healthy["listener.tcp"], "ok");
    EXPECT_NE(healthyExit, 3) << "no failure on a working gateway";

    lab->proxy().signal(SIGKILL);
    lab->proxy().wait(std::chrono::seconds(5));
    for (int i = 0; i < 50 && !gatewayLinks().empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto [deadExit, dead] = doctor();
    EXPECT_EQ(deadExit, 3);
    EXPECT_EQ(dead["sk_lookup.link"], "FAIL");
    EXPECT_EQ(dead["listener.tcp"], "FAIL");

    lab->net().mustExec(lab->net().gateway(), "ip -4 route flush table 100");
    auto [unroutedExit, unrouted] = doctor();
    EXPECT_EQ(unroutedExit, 3);
    EXPECT_EQ(unrouted["local_route.ipv4"], "FAIL");
}

// Issue 19 item 6: a second proxy on a port the first one's program steers would attach a
// second program behind the first, which keeps the traffic: the second is refused at start, in
// one line that names the first (its link, its program, its process), and the first serves on.
TEST_F(SkLookupOnly, ASecondProxyOnASteeredPortIsRefusedNamingTheFirst) {
    auto links = gatewayLinks();
    ASSERT_EQ(links.size(), 1u);
    auto second = lab->net().exec(lab->net().gateway(),
                                  "timeout 10 " + std::string(TPLAB_BINARY) +
                                      " proxy --mode sk-lookup --dport 80 --listen '[::]:15003' "
                                      "2>&1");
    EXPECT_EQ(second.exitCode, 1) << second.output;
    EXPECT_EQ(std::count(second.output.begin(), second.output.end(), '\n'), 1) << second.output;
    const std::string expected = "tcp 80 already steered in this network namespace by BPF link " +
                                 std::to_string(links[0].value("id", 0)) + " (program " +
                                 std::to_string(links[0].value("prog_id", 0)) +
                                 " tplab_steer; held by pid " + std::to_string(lab->proxy().pid()) +
                                 " (tplab)";
    EXPECT_NE(second.output.find(expected), std::string::npos) << second.output;
    EXPECT_EQ(gatewayLinks().size(), 1u) << "the refused proxy left a link behind";
    EXPECT_EQ(curlIndex().output, "served by server\n") << "the first proxy serves on";

    // Another port is no conflict: a proxy steering only 8443 starts beside the first.
    Process other = lab->net().spawn(
        lab->net().gateway(),
        {TPLAB_BINARY, "proxy", "--mode", "sk-lookup", "--dport", "8443", "--listen", "[::]:15004"},
        "/dev/null");
    EXPECT_TRUE(lab->net().waitListening(lab->net().gateway(), 15004));
    EXPECT_EQ(gatewayLinks().size(), 2u);
    other.stop();
}

// A leftover: the first proxy is gone, but someone pinned its link, so its program still steers
// port 80 to a socket that no longer exists. The bpffs is mounted for this one shell (ip netns
// exec gives each command its own mount namespace), so the pin, and the link, end with it.
TEST_F(SkLookupOnly, ALeftoverPinnedProgramIsRefusedNamingThePin) {
    auto links = gatewayLinks();
    ASSERT_EQ(links.size(), 1u);
    auto second = lab->net().exec(
        lab->net().gateway(),
        "mount -t bpf bpf /sys/fs/bpf && bpftool link pin id " +
            std::to_string(links[0].value("id", 0)) + " /sys/fs/bpf/leftover && kill -KILL " +
            std::to_string(lab->proxy().pid()) + " && sleep 0.5 && timeout 10 " +
            std::string(TPLAB_BINARY) +
            " proxy --mode sk-lookup --dport 80 --listen '[::]:15003' 2>&1; echo \"exit $?\"");
    lab->proxy().wait(std::chrono::seconds(5));
    EXPECT_NE(second.output.find("tcp 80 already steered in this network namespace by BPF link " +
                                 std::to_string(links[0].value("id", 0)) + " (program " +
                                 std::to_string(links[0].value("prog_id", 0)) +
                                 " tplab_steer; pinned at /sys/fs/bpf/leftover)"),
              std::string::npos)
        << second.output;
    EXPECT_NE(second.output.find("exit 1\n"), std::string::npos) << second.output;
}

// --prefix: the program steers only connections whose destination lies in a prefix; the rest
// go on to the kernel's usual lookup. The gateway runs a service of its own on port 80, a
// steered port, answering on every address it has (a dual-stack wildcard listener).
class SkLookupWithPrefix : public ::testing::TestWithParam<Family> {
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
    // The lab with the proxy steering only the server's networks, or (withPrefix false) every
    // destination, as without the option; plus the gateway's own service on port 80.
    void start(bool withPrefix) {
        ProxyLaunch launch;
        if (withPrefix) {
            launch.extraArgs = {"--prefix", "198.51.100.0/24,2001:db8:2::/64"};
        }
        lab = std::make_unique<GatewayLab>("sk-lookup", GetParam(), false, launch);
        gatewayService = lab->net().spawn(
            lab->net().gateway(),
            {"socat",
             "TCP-LISTEN:" + std::to_string(kHttpPort) + ",pf=ip6,ipv6only=0,fork,reuseaddr",
             "SYSTEM:echo served by gateway"},
            lab->workdir() + "/gateway-service.log");
        ASSERT_TRUE(lab->net().waitListening(lab->net().gateway(), kHttpPort));
    }
    const Addresses& at() const { return lab->addresses(); }
    std::string loopback() const { return GetParam() == Family::Ipv4 ? "127.0.0.1" : "::1"; }
    // The first line a connection to ADDRESS:80 from NS reads ("" when it reads none in 3 s).
    std::string readFrom(const std::string& ns, const std::string& address) {
        auto result = lab->net().exec(
            ns, "socat -T 3 -u TCP:" + withPort(address, kHttpPort) + ",connect-timeout=3 - 2>&1");
        return result.output.substr(0, result.output.find('\n'));
    }
    CommandResult curlServer() {
        return lab->net().exec(lab->net().client(), "curl -sS --max-time 3 http://" +
                                                        urlHost(at().server) + "/index.html");
    }

    std::unique_ptr<GatewayLab> lab;
    Process gatewayService;  // declared after lab: stopped before the namespaces go
};

TEST_P(SkLookupWithPrefix, AConnectionIntoThePrefixIsSteeredAndRelayed) {
    start(/*withPrefix=*/true);
    auto served = curlServer();
    ASSERT_EQ(served.output, "served by server\n") << lab->proxyLog();
    auto accepted = lab->events("accepted", 1);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["original_dst"], withPort(at().server, kHttpPort));
    EXPECT_EQ(accepted[0]["recovered_by"], "getsockname");
    auto counters = programCounters(*lab);
    EXPECT_EQ(counters["steered"], 1u);
    EXPECT_EQ(counters["outside_prefixes"], 0u);
    EXPECT_NE(lab->proxyLog().find("steering tcp 80, tcp 81, tcp 7000, tcp 9000 to "
                                   "198.51.100.0/24, 2001:db8:2::/64"),
              std::string::npos)
        << lab->proxyLog();
}

TEST_P(SkLookupWithPrefix, TheGatewaysOwnServiceOnASteeredPortStaysReachableOutsideThePrefix) {
    start(/*withPrefix=*/true);
    // The client dials the gateway's own address on port 80: local, port steered, but the
    // destination is in no prefix, so the kernel's own lookup finds the gateway's service.
    EXPECT_EQ(readFrom(lab->net().client(), at().gatewayClientSide), "served by gateway");
    // The gateway's own connection over loopback: the same.
    EXPECT_EQ(readFrom(lab->net().gateway(), loopback()), "served by gateway");
    // And the client's connection to the server is still the proxy's, beside that service.
    EXPECT_EQ(curlServer().output, "served by server\n");
    auto accepted = lab->events("accepted", 1);
    ASSERT_EQ(accepted.size(), 1u) << "only the connection to the server reached the proxy";
    EXPECT_EQ(accepted[0]["original_dst"], withPort(at().server, kHttpPort));
    auto counters = programCounters(*lab);
    EXPECT_EQ(counters["steered"], 1u);
    EXPECT_EQ(counters["outside_prefixes"], 2u);
    EXPECT_EQ(counters["no_socket"], 0u);
    EXPECT_EQ(counters["assign_failed"], 0u);
}

// The limitation --prefix lifts: without it the program steers every destination, the gateway's
// own addresses too, and the proxy's loop guard refuses what it cannot relay anywhere else.
TEST_P(SkLookupWithPrefix, WithoutPrefixTheGatewaysOwnServiceOnASteeredPortIsTakenByTheProxy) {
    start(/*withPrefix=*/false);
    EXPECT_NE(readFrom(lab->net().client(), at().gatewayClientSide), "served by gateway");
    EXPECT_NE(readFrom(lab->net().gateway(), loopback()), "served by gateway");
    auto accepted = lab->events("accepted", 2);
    ASSERT_GE(accepted.size(), 2u);
    EXPECT_EQ(accepted[0]["original_dst"], withPort(at().gatewayClientSide, kHttpPort));
    EXPECT_EQ(programCounters(*lab)["outside_prefixes"], 0u);
    EXPECT_NE(lab->proxyLog().find("to every destination"), std::string::npos) << lab->proxyLog();
}

std::string familyName(const ::testing::TestParamInfo<Family>& param) {
    return param.param == Family::Ipv4 ? "ipv4" : "ipv6";
}

INSTANTIATE_TEST_SUITE_P(, SkLookupWithPrefix, ::testing::Values(Family::Ipv4, Family::Ipv6),
                         familyName);

}  // namespace
}  // namespace tplab::test
