// sk-lookup: what the gateway holds (a BPF link, no firewall rule, no conntrack entry), what the
// program leaves alone, and that nothing outlives the proxy.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <memory>
#include <thread>

#include "gateway_lab.hpp"
#include "policy_routed_gateway.hpp"

namespace tplab::test {
namespace {

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
    // The sk_lookup links attached to the gateway's network namespace, as bpftool shows them.
    std::vector<nlohmann::json> gatewayLinks() {
        auto inode = lab->net().exec(lab->net().gateway(), "stat -L -c %i /proc/self/ns/net");
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

}  // namespace
}  // namespace tplab::test
