// `tplab rules --apply/--remove` in real namespaces: for every mode, firewall and family the
// applied rules intercept a real flow, applying twice changes nothing, and --remove restores the
// exact prior state (iptables-save, ip6tables-save, nft list ruleset, ip rule, routes, sysctls).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "process.hpp"
#include "web_topology.hpp"

namespace tplab::test {
namespace {

struct RulesCase {
    std::string mode;      // redirect, dnat, tproxy, anyip, sk-lookup
    std::string firewall;  // iptables, nft; "" for anyip and sk-lookup (no firewall rule at all)
    Family family;
    bool local = false;  // intercept the gateway's own traffic instead of the client's
};

std::string nameOf(const RulesCase& c) {
    std::string mode = c.mode;
    std::replace(mode.begin(), mode.end(), '-', '_');  // a test name is [A-Za-z0-9_]
    return mode + (c.firewall.empty() ? "" : "_" + c.firewall) +
           (c.family == Family::Ipv4 ? "_ipv4" : "_ipv6") + (c.local ? "_local" : "");
}

std::string caseName(const ::testing::TestParamInfo<RulesCase>& info) {
    return nameOf(info.param);
}

// gtest prints the parameter of a failing test with this, instead of a dump of its bytes.
[[maybe_unused]] void PrintTo(const RulesCase& c, std::ostream* out) {
    *out << nameOf(c);
}

class RulesApplyRemove : public ::testing::TestWithParam<RulesCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        web = std::make_unique<WebTopology>("rules");
        net = &web->net();
        workdir = web->workdir();
        // Forwarding off, so that --apply must turn it on and --remove must turn it off again.
        net->mustExec(net->gateway(),
                      "sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0");
        ASSERT_TRUE(waitUntilTheLinksHaveSettled()) << kernelState();
    }
    void TearDown() override {
        proxy.stop();
        web.reset();
    }

    std::string rulesArguments() const {
        const auto& c = GetParam();
        std::string args = " rules --mode " + c.mode +
                           (c.firewall.empty() ? "" : " --firewall " + c.firewall) +
                           (keepsThePort() ? "" : " --port 15001") + " --dport 80 --mark 2" +
                           (c.family == Family::Ipv4 ? " --ipv4" : " --ipv6");
        if (c.local) {
            args += " --local";
        } else {
            args += " --in-interface veth-c";
        }
        if (c.mode == "dnat") {
            args += c.family == Family::Ipv4 ? " --to-address 192.0.2.1"
                                             : " --to-address6 2001:db8:1::1";
        }
        return args;
    }
    // Policy routing only: nothing rewrites the destination port.
    bool keepsThePort() const {
        return GetParam().mode == "anyip" || GetParam().mode == "sk-lookup";
    }
    CommandResult rules(const std::string& action) {
        return net->exec(net->gateway(),
                         std::string(TPLAB_BINARY) + rulesArguments() + " " + action);
    }
    // After a veth comes up the kernel adds its IPv6 link-local address and the routes that go
    // with it (fe80::/64, ff00::/8, the local entry) on its own time: a "before" snapshot taken
    // earlier than that differs from any later one, whatever tplab does. Wait for all of them,
    // then for two equal snapshots in a row.
    bool waitUntilTheLinksHaveSettled() {
        const std::string probe =
            "for dev in veth-c veth-s; do r=$(ip -6 route show table all dev $dev); "
            "echo \"$r\" | grep -q '^fe80::/64' && echo \"$r\" | grep -q '^multicast ff00::/8' "
            "&& echo \"$r\" | grep -q '^local fe80::' || exit 1; done; "
            "test -z \"$(ip -6 addr show tentative)\"";
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        std::string previous;
        while (std::chrono::steady_clock::now() < deadline) {
            if (net->exec(net->gateway(), probe).exitCode == 0) {
                std::string now = kernelState();
                if (now == previous)
                    return true;
                previous = now;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }
    std::string kernelState() {
        return net
            ->exec(net->gateway(),
                   "iptables-save | grep -v \"^#\"; ip6tables-save | grep -v \"^#\"; "
                   "nft list ruleset; ip -4 rule; ip -6 rule; ip -4 route show table all; "
                   "ip -6 route show table all; sysctl net.ipv4.ip_forward "
                   "net.ipv6.conf.all.forwarding net.ipv4.conf.all.rp_filter")
            .output;
    }

    std::unique_ptr<WebTopology> web;
    NetnsTopology* net = nullptr;
    std::string workdir;
    Process proxy;
};

TEST_P(RulesApplyRemove, AppliedRulesInterceptAndRemoveRestoresTheExactPriorState) {
    const auto& c = GetParam();
    const auto& at = addressesFor(c.family);
    const std::string before = kernelState();

    auto applied = rules("--apply");
    ASSERT_EQ(applied.exitCode, 0) << applied.output;
    const std::string afterApply = kernelState();
    EXPECT_NE(afterApply, before);
    auto again = rules("--apply");
    EXPECT_EQ(again.exitCode, 0) << again.output;
    EXPECT_EQ(kernelState(), afterApply) << "a second --apply must change nothing:\n"
                                         << again.output;

    // AnyIP keeps the destination port: the tproxy backend listens on the intercepted port.
    // sk-lookup keeps it too, and its BPF program steers it to the proxy's own port.
    const bool transparent = c.mode == "tproxy" || c.mode == "anyip";
    const std::string port = c.mode == "anyip" ? "80" : "15001";
    std::vector<std::string> argv = {
        TPLAB_BINARY, "proxy",
        "--mode",     c.mode == "sk-lookup" ? "sk-lookup" : transparent ? "tproxy" : "redirect",
        "--listen",   "0.0.0.0:" + port,
        "--listen",   "[::]:" + port,
        "--mark",     "2",
        "--events",   workdir + "/events.jsonl"};
    if (c.mode == "sk-lookup") {
        argv.insert(argv.end(), {"--dport", "80"});
    }
    proxy = net->spawn(net->gateway(), argv, workdir + "/proxy.log");
    ASSERT_TRUE(net->waitListening(net->gateway(), std::stoi(port)));
    const std::string& from = c.local ? net->gateway() : net->client();
    auto curl = web->fetchIndex(from, urlHost(at.server));
    EXPECT_EQ(curl.output, "served by server\n") << web->readFile("proxy.log");
    const std::string events = web->readFile("events.jsonl");
    EXPECT_NE(events.find("\"original_dst\":\"" + withPort(at.server, 80) + "\""),
              std::string::npos)
        << "the flow was not intercepted:\n"
        << events;
    EXPECT_EQ(events.find("loop_refused"), std::string::npos) << events;
    proxy.stop();

    auto removed = rules("--remove");
    ASSERT_EQ(removed.exitCode, 0) << removed.output;
    EXPECT_EQ(kernelState(), before) << "--remove must restore the exact prior state";
    EXPECT_EQ(rules("--remove").exitCode, 0) << "a second --remove is harmless";
    EXPECT_EQ(kernelState(), before);
}

std::vector<RulesCase> allCases() {
    std::vector<RulesCase> cases;
    for (const char* mode : {"redirect", "dnat", "tproxy"}) {
        for (const char* firewall : {"iptables", "nft"}) {
            for (Family family : {Family::Ipv4, Family::Ipv6}) {
                cases.push_back({mode, firewall, family, false});
            }
            cases.push_back({mode, firewall, Family::Ipv4, true});
        }
    }
    cases.push_back({"anyip", "", Family::Ipv4, false});
    cases.push_back({"anyip", "", Family::Ipv6, false});
    cases.push_back({"sk-lookup", "", Family::Ipv4, false});
    cases.push_back({"sk-lookup", "", Family::Ipv6, false});
    return cases;
}

INSTANTIATE_TEST_SUITE_P(, RulesApplyRemove, ::testing::ValuesIn(allCases()), caseName);

}  // namespace
}  // namespace tplab::test
