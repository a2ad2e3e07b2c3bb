// `tplab rules` as a user meets it with bad values: one line naming the value, exit 2, and no
// plan printed. Runs the real binary; needs no privileges (nothing is applied).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "process.hpp"

namespace tplab::test {
namespace {

// Single-quoted for /bin/sh, whatever `value` holds.
std::string shellQuoted(const std::string& value) {
    std::string quoted = "'";
    for (char c : value)
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

CommandResult rules(const std::string& arguments) {
    return runShell(std::string(TPLAB_BINARY) + " rules --port 15001 " + arguments + " </dev/null");
}

void expectRefused(const std::string& arguments, const std::string& mention) {
    auto result = rules(arguments);  // never --apply: a test must not touch the host
    EXPECT_EQ(result.exitCode, 2) << arguments << "\n" << result.output;
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << arguments << "\n"
                                                                               << result.output;
    EXPECT_EQ(result.output.rfind("tplab: error: " + mention, 0), 0u) << result.output;
}

TEST(RulesCli, TheNftInjectionThroughTheInterfaceNameIsRefusedInOneLine) {
    const std::string injection = "x\"}chain evil{type filter hook input priority 0;policy drop;}#";
    expectRefused("--mode tproxy --firewall nft --in-interface " + shellQuoted(injection),
                  "--in-interface");
    auto printed = rules("--mode tproxy --firewall nft --in-interface " + shellQuoted(injection));
    EXPECT_EQ(printed.exitCode, 2);
    EXPECT_EQ(printed.output.find("table inet tplab"), std::string::npos)
        << "no plan is printed, only the refusal:\n"
        << printed.output;
}

TEST(RulesCli, InterfaceNamesNoKernelAcceptsAreRefused) {
    for (const char* bad : {"a'b", "veth-c-0123456789", "a b", "", "a/b", "eth0:1", ".."}) {
        expectRefused("--mode tproxy --in-interface " + shellQuoted(bad), "--in-interface");
    }
}

TEST(RulesCli, AddressesPortsMarksAndTablesAreChecked) {
    expectRefused("--mode dnat --ipv4 --to-address '192.0.2.1;reboot'", "--to-address");
    expectRefused("--mode dnat --ipv4 --to-address 192.0.2.0/24", "--to-address");
    expectRefused("--mode dnat --ipv6 --to-address6 192.0.2.1", "--to-address6");
    expectRefused("--mode tproxy --to-address 192.0.2.1", "--to-address");
    expectRefused("--mode tproxy --dport 80,80", "--dport");
    expectRefused("--mode tproxy --mark 0", "--mark");
    expectRefused("--mode tproxy --dport 0", "--dport");
    expectRefused("--mode tproxy --table 254", "--table");
}

TEST(RulesCli, AValidPlanStillPrints) {
    auto result = rules("--mode tproxy --firewall nft --ipv4 --in-interface veth-c --dport 80");
    EXPECT_EQ(result.exitCode, 0) << result.output;
    EXPECT_NE(result.output.find("iifname \"veth-c\""), std::string::npos) << result.output;
}

}  // namespace
}  // namespace tplab::test
