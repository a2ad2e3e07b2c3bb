// What `tplab rules` plans for each mode, and the combinations it refuses.
#include "rule_plan.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>
#include <vector>

#include "shell_command.hpp"

namespace tplab {
namespace {

RuleSpec spec(InterceptMode mode) {
    RuleSpec s;
    s.mode = mode;
    s.proxyPort = 15001;
    s.ipv6 = false;
    s.inInterface = "veth-c";
    s.destinationPorts = {80};
    return s;
}

bool mentions(const std::vector<RuleStep>& steps, const std::string& text) {
    return renderPlan(steps).find(text) != std::string::npos;
}

TEST(RulePlan, RedirectIsOneNatRuleAndForwarding) {
    auto steps = planRules(spec(InterceptMode::Redirect));
    EXPECT_TRUE(mentions(steps, "sysctl -qw net.ipv4.ip_forward=1"));
    EXPECT_TRUE(mentions(steps,
                         "iptables -w -t nat -A PREROUTING -i veth-c -p tcp --dport 80 -j REDIRECT "
                         "--to-ports 15001"));
    EXPECT_FALSE(mentions(steps, "ip -4 rule")) << "REDIRECT needs no policy routing";
}

TEST(RulePlan, TproxyNeedsTheMarkTheRuleAndTheLocalRoute) {
    auto steps = planRules(spec(InterceptMode::Tproxy));
    EXPECT_TRUE(mentions(steps, "-j TPROXY --on-port 15001 --tproxy-mark 0x1/0x1"));
    EXPECT_TRUE(mentions(steps, "ip -4 rule add fwmark 0x1/0x1 lookup 100"));
    EXPECT_TRUE(mentions(steps, "ip -4 route add local 0.0.0.0/0 dev lo table 100"));
}

TEST(RulePlan, EveryStepSaysWhyAndCanBeUndoneOrRestored) {
    auto s = spec(InterceptMode::Tproxy);
    s.spoofSource = true;
    s.local = true;
    s.ipv6 = true;
    for (const auto& step : planRules(s)) {
        EXPECT_FALSE(step.why.empty()) << step.apply.text();
        EXPECT_TRUE(step.remove.has_value() || !step.sysctl.empty()) << step.apply.text();
    }
}

TEST(RulePlan, LocalTrafficIsExemptedByTheProxysMarkBeforeItIsIntercepted) {
    auto s = spec(InterceptMode::Redirect);
    s.local = true;
    std::string plan = renderPlan(planRules(s));
    auto exempt = plan.find("-t nat -A OUTPUT -p tcp -m mark --mark 0x2 -j RETURN");
    auto redirect = plan.find("-t nat -A OUTPUT '!' -d 127.0.0.0/8 -p tcp --dport 80 -j REDIRECT");
    ASSERT_NE(exempt, std::string::npos) << plan;
    ASSERT_NE(redirect, std::string::npos) << plan;
    EXPECT_LT(exempt, redirect) << "RETURN must come before REDIRECT";
}

TEST(RulePlan, NftPutsEverythingInOneReplaceableTable) {
    auto s = spec(InterceptMode::Tproxy);
    s.firewall = Firewall::Nft;
    s.ipv6 = true;
    auto steps = planRules(s);
    std::string plan = renderPlan(steps);
    EXPECT_NE(plan.find("delete table inet tplab"), std::string::npos);
    EXPECT_NE(plan.find("tproxy ip to :15001"), std::string::npos) << plan;
    EXPECT_NE(plan.find("tproxy ip6 to :15001"), std::string::npos) << plan;
    EXPECT_EQ(steps.back().remove->text(), "nft delete table inet tplab");
}

TEST(RulePlan, RefusesWhatCannotWork) {
    auto udpRedirect = spec(InterceptMode::Redirect);
    udpRedirect.udp = true;
    EXPECT_THROW(planRules(udpRedirect), std::invalid_argument);
    auto dnatWithoutAddress = spec(InterceptMode::Dnat);
    EXPECT_THROW(planRules(dnatWithoutAddress), std::invalid_argument);
    auto overlappingMark = spec(InterceptMode::Tproxy);
    overlappingMark.proxyMark = 3;
    EXPECT_THROW(planRules(overlappingMark), std::invalid_argument);
    auto noPort = spec(InterceptMode::Redirect);
    noPort.proxyPort = 0;
    EXPECT_THROW(planRules(noPort), std::invalid_argument);
}

RuleSpec anyip() {
    auto s = spec(InterceptMode::Anyip);
    s.proxyPort = 0;
    s.destinationPorts = {80, 7000};
    return s;
}

TEST(RulePlan, AnyipIsAnIpRulePerPortAndALocalRouteWithNoFirewallRule) {
    auto s = anyip();
    s.anyipPrefixes = {"198.51.100.0/24"};
    auto steps = planRules(s);
    EXPECT_TRUE(mentions(steps, "ip -4 rule add iif veth-c ipproto tcp dport 80 lookup 100"));
    EXPECT_TRUE(mentions(steps, "ip -4 rule add iif veth-c ipproto tcp dport 7000 lookup 100"));
    EXPECT_TRUE(mentions(steps, "ip -4 route add local 198.51.100.0/24 dev lo table 100"));
    EXPECT_FALSE(mentions(steps, "iptables")) << renderPlan(steps);
    EXPECT_FALSE(mentions(steps, "fwmark")) << "AnyIP needs no mark";
    for (const auto& step : steps) {
        EXPECT_TRUE(step.remove.has_value() || !step.sysctl.empty()) << step.apply.text();
        EXPECT_TRUE(step.isPresent.has_value()) << step.apply.text();
    }
    s.firewall = Firewall::Nft;
    EXPECT_FALSE(mentions(planRules(s), "nft")) << "no firewall either way";
}

TEST(RulePlan, AnyipCoversEachFamilyAndProtocolAsked) {
    auto s = anyip();
    s.ipv6 = true;
    s.udp = true;
    s.destinationPorts = {53};
    s.anyipPrefixes = {"198.51.100.0/24", "2001:db8:2::/64"};
    auto steps = planRules(s);
    EXPECT_TRUE(mentions(steps, "ip -4 rule add iif veth-c ipproto udp dport 53 lookup 100"));
    EXPECT_TRUE(mentions(steps, "ip -6 rule add iif veth-c ipproto tcp dport 53 lookup 100"));
    EXPECT_TRUE(mentions(steps, "ip -6 route add local 2001:db8:2::/64 dev lo table 100"));
    EXPECT_FALSE(mentions(steps, "ip -6 route add local 198.51.100.0/24"));
    s.anyipPrefixes.clear();
    s.destinationPorts.clear();
    steps = planRules(s);
    EXPECT_TRUE(mentions(steps, "ip -4 rule add iif veth-c lookup 100"));
    EXPECT_TRUE(mentions(steps, "ip -6 route add local ::/0 dev lo table 100"));
}

TEST(RulePlan, AnyipRefusesWhatWouldCutTheGatewayOffOrCannotWork) {
    auto withPort = anyip();
    withPort.proxyPort = 15001;
    EXPECT_THROW(planRules(withPort), std::invalid_argument);
    auto unscoped = anyip();
    unscoped.inInterface.clear();
    EXPECT_THROW(planRules(unscoped), std::invalid_argument);
    auto spoofed = anyip();
    spoofed.spoofSource = true;
    EXPECT_THROW(planRules(spoofed), std::invalid_argument);
    for (const char* bad : {"198.51.100.0", "198.51.100.1/24", "198.51.100.0/33", "2001:db8::/129",
                            "2001:db8::1/64", "x/8", "198.51.100.0/-1", "198.51.100.0/", ""}) {
        auto s = anyip();
        s.anyipPrefixes = {bad};
        EXPECT_THROW(planRules(s), std::invalid_argument) << bad;
    }
    auto prefixElsewhere = spec(InterceptMode::Tproxy);
    prefixElsewhere.anyipPrefixes = {"198.51.100.0/24"};
    EXPECT_THROW(planRules(prefixElsewhere), std::invalid_argument);
}

TEST(RulePlan, SkLookupHasAnyipsRoutingAndSaysWhatPicksTheSocket) {
    auto s = anyip();
    s.mode = InterceptMode::SkLookup;
    s.anyipPrefixes = {"198.51.100.0/24"};
    auto steps = planRules(s);
    auto sameAsAnyip = anyip();
    sameAsAnyip.anyipPrefixes = s.anyipPrefixes;
    auto asAnyip = planRules(sameAsAnyip);
    ASSERT_EQ(steps.size(), asAnyip.size());
    for (std::size_t i = 0; i < steps.size(); ++i) {
        EXPECT_EQ(steps[i].apply.text(), asAnyip[i].apply.text());
    }
    EXPECT_TRUE(mentions(steps, "ip -4 rule add iif veth-c ipproto tcp dport 80 lookup 100"));
    EXPECT_FALSE(mentions(steps, "iptables")) << renderPlan(steps);
    EXPECT_NE(renderPlan(steps).find("BPF sk_lookup program"), std::string::npos)
        << renderPlan(steps);
    auto withPort = s;
    withPort.proxyPort = 15001;
    EXPECT_THROW(planRules(withPort), std::invalid_argument);
    auto unscoped = s;
    unscoped.inInterface.clear();
    EXPECT_THROW(planRules(unscoped), std::invalid_argument);
    auto local = s;
    local.local = true;
    EXPECT_THROW(planRules(local), std::invalid_argument);
}

// The message planRules gives for `change` applied to a valid TPROXY spec, "" when it accepts it.
template <typename Change>
std::string refusal(Change change, Firewall firewall = Firewall::Nft) {
    auto s = spec(InterceptMode::Tproxy);
    s.firewall = firewall;
    change(s);
    try {
        planRules(s);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

TEST(RulePlanValidation, AnInterfaceNameThatClosesTheNftQuoteIsRefused) {
    const std::string injection = "x\"}chain evil{type filter hook input priority 0;policy drop;}#";
    std::string message = refusal([&](RuleSpec& s) { s.inInterface = injection; });
    EXPECT_NE(message.find("--in-interface"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
}

TEST(RulePlanValidation, InterfaceNamesTheKernelRefusesAreRefused) {
    for (std::string bad :
         std::vector<std::string>{"a'b", "veth-c-0123456789", "a b", "a\tb", "eth0:1", "a/b", ".",
                                  "..", "a`id`", "a$b", "a\"b", "a\\b", "eth+", "a\nb"}) {
        EXPECT_NE(refusal([&](RuleSpec& s) { s.inInterface = bad; }), "") << bad;
        EXPECT_NE(refusal([&](RuleSpec& s) { s.inInterface = bad; }, Firewall::Iptables), "")
            << bad;
    }
    EXPECT_NE(refusal([](RuleSpec& s) { s.inInterface = "a\nb"; }).find("a\\x0ab"),
              std::string::npos)
        << "a control byte is shown escaped, so the message stays one line";
}

TEST(RulePlanValidation, InterfaceNamesTheKernelAcceptsAreTaken) {
    for (std::string good :
         {"veth-c", "v", "eth0.100", "br_lan", "wg@0", "a+b", "fifteen-bytes15"}) {
        EXPECT_EQ(refusal([&](RuleSpec& s) { s.inInterface = good; }), "") << good;
    }
}

TEST(RulePlanValidation, DnatAddressesMustParseAsOneAddressOfTheirFamily) {
    auto dnat = [](const std::string& v4, const std::string& v6) {
        auto s = spec(InterceptMode::Dnat);
        s.ipv6 = true;
        s.dnatAddress4 = v4;
        s.dnatAddress6 = v6;
        try {
            planRules(s);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_EQ(dnat("192.0.2.1", "2001:db8::1"), "");
    EXPECT_NE(dnat("192.0.2.1:80", "2001:db8::1"), "");
    EXPECT_NE(dnat("192.0.2.0/24", "2001:db8::1"), "");
    EXPECT_NE(dnat("192.0.2.256", "2001:db8::1"), "");
    EXPECT_NE(dnat("2001:db8::1", "2001:db8::1"), "") << "an IPv6 address in --to-address";
    EXPECT_NE(dnat("192.0.2.1", "192.0.2.1"), "") << "an IPv4 address in --to-address6";
    EXPECT_NE(dnat("192.0.2.1", "2001:db8::1%eth0"), "");
    EXPECT_NE(dnat("192.0.2.1;reboot", "2001:db8::1"), "");
    EXPECT_NE(dnat("192.0.2.1", "2001:db8::/32"), "");
    auto tproxyWithAddress = spec(InterceptMode::Tproxy);
    tproxyWithAddress.dnatAddress4 = "192.0.2.1";
    EXPECT_THROW(planRules(tproxyWithAddress), std::invalid_argument)
        << "--to-address does nothing outside --mode dnat";
}

TEST(RulePlanValidation, PortsMarksAndTablesOutOfRangeAreRefused) {
    EXPECT_NE(refusal([](RuleSpec& s) { s.destinationPorts = {0}; }), "");
    EXPECT_NE(refusal([](RuleSpec& s) { s.destinationPorts = {80, 80}; }), "");
    EXPECT_NE(refusal([](RuleSpec& s) {
                  s.destinationPorts.clear();
                  for (std::uint16_t port = 1; port <= 16; ++port)
                      s.destinationPorts.push_back(port);
              }),
              "");
    EXPECT_EQ(refusal([](RuleSpec& s) { s.destinationPorts = {53, 80, 443}; }), "");
    EXPECT_NE(refusal([](RuleSpec& s) { s.proxyMark = 0; }), "")
        << "mark 0 is every unmarked packet";
    EXPECT_NE(refusal([](RuleSpec& s) { s.table = 0; }), "");
    EXPECT_NE(refusal([](RuleSpec& s) { s.table = 254; }), "") << "the main table";
    EXPECT_EQ(refusal([](RuleSpec& s) { s.table = 252; }), "");
}

// What sh makes of a printed command line: its words, one per line.
std::string wordsAfterSh(const std::string& line) {
    ShellCommand printWords{{"sh", "-c", "printf '%s\\n' " + line}, ""};
    return runCommand(printWords).output;
}

TEST(ShellQuoting, APrintedCommandGivesTheShellExactlyItsArguments) {
    std::vector<std::string> argv = {"printf",   "a'b",          "`id`", "$(id)", "x\"y", "!",
                                     "a b",      "back\\slash",  "#",    "~",     "'",    "",
                                     "[::1]:80", "plain-0x1/0x1"};
    ShellCommand command{argv, ""};
    std::string expected;
    for (std::size_t i = 1; i < argv.size(); ++i)
        expected += argv[i] + "\n";
    std::string line = command.text();
    EXPECT_EQ(wordsAfterSh(line.substr(std::string("printf ").size())), expected) << line;
    EXPECT_EQ(ShellCommand({{"iptables", "-A", "0x1/0x1", "net.ipv4.ip_forward=1"}, ""}).text(),
              "iptables -A 0x1/0x1 net.ipv4.ip_forward=1")
        << "words that need no quotes get none";
}

TEST(ShellQuoting, AHereDocumentIsNotEndedByALineOfItsInput) {
    ShellCommand command{{"cat"}, "first\nEOF\nlast\n"};
    std::string line = command.text();
    EXPECT_EQ(runCommand(ShellCommand{{"sh", "-c", line}, ""}).output, "first\nEOF\nlast\n")
        << line;
}

TEST(RulePlan, EveryTproxyRuleComesBehindTheSocketAndLocalAddressGuards) {
    for (Firewall firewall : {Firewall::Iptables, Firewall::Nft}) {
        for (bool udp : {false, true}) {
            for (bool local : {false, true}) {
                for (bool spoof : {false, true}) {
                    auto s = spec(InterceptMode::Tproxy);
                    s.firewall = firewall;
                    s.ipv6 = true;
                    s.udp = udp;
                    s.tcp = !udp;
                    s.local = local;
                    s.spoofSource = spoof;
                    s.inInterface = "";
                    s.destinationPorts.clear();
                    std::string plan = renderPlan(planRules(s));
                    const char* socketGuard = firewall == Firewall::Nft
                                                  ? "socket transparent 0 socket wildcard 0 accept"
                                                  : "-m socket -j ACCEPT";
                    const char* localGuard = firewall == Firewall::Nft
                                                 ? "fib daddr type local accept"
                                                 : "-m addrtype --dst-type LOCAL -j ACCEPT";
                    const char* tproxy = firewall == Firewall::Nft ? "tproxy ip" : "-j TPROXY";
                    // Each TPROXY rule is preceded by its own two guards.
                    bool socketGuarded = false, localGuarded = false;
                    int rules = 0;
                    std::istringstream lines(plan);
                    for (std::string line; std::getline(lines, line);) {
                        if (line.find(socketGuard) != std::string::npos) {
                            socketGuarded = true;
                        } else if (line.find(localGuard) != std::string::npos) {
                            localGuarded = true;
                        } else if (line.find(tproxy) != std::string::npos) {
                            EXPECT_TRUE(socketGuarded && localGuarded) << line << "\n" << plan;
                            socketGuarded = localGuarded = false;
                            ++rules;
                        }
                    }
                    EXPECT_EQ(rules, 2) << "one per family:\n" << plan;
                }
            }
        }
    }
}

TEST(RulePlan, NftDoesNotAcceptAtTheTransparentSocketRule) {
    auto s = spec(InterceptMode::Tproxy);
    s.firewall = Firewall::Nft;
    s.udp = true;
    s.tcp = false;
    s.spoofSource = true;
    std::string plan = renderPlan(planRules(s));
    auto transparent = plan.find("meta l4proto udp socket transparent 1 socket wildcard 0");
    ASSERT_NE(transparent, std::string::npos) << plan;
    auto endOfLine = plan.find('\n', transparent);
    EXPECT_EQ(plan.substr(transparent, endOfLine - transparent).find("accept"), std::string::npos)
        << "a client's next datagram would be handed to the proxy's reply socket:\n"
        << plan;
}

TEST(RulePlan, DnatNamesTheTargetPerFamily) {
    auto s = spec(InterceptMode::Dnat);
    s.ipv6 = true;
    s.dnatAddress4 = "192.0.2.1";
    s.dnatAddress6 = "2001:db8:1::1";
    auto steps = planRules(s);
    EXPECT_TRUE(mentions(steps, "-j DNAT --to-destination 192.0.2.1:15001"));
    EXPECT_TRUE(mentions(steps, "-j DNAT --to-destination '[2001:db8:1::1]:15001'"));
}

}  // namespace
}  // namespace tplab
