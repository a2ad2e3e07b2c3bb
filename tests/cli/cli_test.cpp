// The tplab binary as a user meets it: help, version, and one-line errors with exit codes
// (2 for bad input, 1 for setup failures). Runs the real binary; needs no privileges.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <string>

#include "fd.hpp"
#include "process.hpp"

namespace tplab::test {
namespace {

CommandResult tplab(const std::string& arguments) {
    return runShell(std::string(TPLAB_BINARY) + " " + arguments + " </dev/null");
}

std::size_t lineCount(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

void expectOneLineError(const std::string& arguments, int exitCode, const std::string& mention) {
    auto result = tplab(arguments);
    EXPECT_EQ(result.exitCode, exitCode) << arguments << "\n" << result.output;
    EXPECT_EQ(lineCount(result.output), 1u) << arguments << "\n" << result.output;
    EXPECT_EQ(result.output.rfind("tplab: error: ", 0), 0u) << result.output;
    EXPECT_NE(result.output.find(mention), std::string::npos)
        << arguments << ": expected the message to name '" << mention << "':\n"
        << result.output;
}

TEST(Cli, HelpListsTheProxyCommandAndExitsZero) {
    auto result = tplab("--help");
    EXPECT_EQ(result.exitCode, 0);
    EXPECT_NE(result.output.find("proxy"), std::string::npos);
}

TEST(Cli, ProxyHelpDocumentsEveryOption) {
    auto result = tplab("proxy --help");
    EXPECT_EQ(result.exitCode, 0);
    for (const char* option : {"--mode", "--listen", "--events", "--mark", "--connect-timeout",
                               "--idle-timeout", "--max-connections", "--drain-timeout", "-v"}) {
        EXPECT_NE(result.output.find(option), std::string::npos) << option;
    }
}

TEST(Cli, EveryCommandHasHelp) {
    for (const char* command : {"proxy", "capture", "report", "rules", "doctor", "lab"}) {
        auto result = tplab(std::string(command) + " --help");
        EXPECT_EQ(result.exitCode, 0) << command;
        EXPECT_NE(result.output.find("Usage:"), std::string::npos) << command;
    }
}

// A class reads --help on a projector: no line over 100 columns, and nothing lost by wrapping.
TEST(Cli, EveryHelpFitsOneHundredColumns) {
    for (const char* command : {"", "proxy", "capture", "report", "rules", "doctor", "lab"}) {
        auto result = tplab(std::string(command) + " --help");
        ASSERT_EQ(result.exitCode, 0) << command;
        std::size_t start = 0;
        while (start < result.output.size()) {
            std::size_t end = result.output.find('\n', start);
            if (end == std::string::npos) {
                end = result.output.size();
            }
            EXPECT_LE(end - start, 100u)
                << "tplab " << command << " --help: " << result.output.substr(start, end - start);
            start = end + 1;
        }
    }
    auto proxy = tplab("proxy --help");
    EXPECT_NE(proxy.output.find("rules (tplab rules --spoof-source), --mark for their conntrack"),
              std::string::npos)
        << "a wrapped description lost or reordered words:\n"
        << proxy.output;
}

// The doctor's findings are read on a projector too: long summaries and fixes wrap.
TEST(Cli, DoctorOutputFitsOneHundredColumns) {
    auto result = tplab("doctor --all --mode tproxy --port 1");
    ASSERT_FALSE(result.output.empty());
    std::istringstream lines(result.output);
    for (std::string line; std::getline(lines, line);) {
        EXPECT_LE(line.size(), 100u) << line;
    }
}

TEST(Cli, VersionPrintsTheVersion) {
    auto result = tplab("--version");
    EXPECT_EQ(result.exitCode, 0);
    EXPECT_EQ(result.output.rfind("tplab ", 0), 0u) << result.output;
}

TEST(Cli, BadInputIsOneLineAndExitCodeTwo) {
    expectOneLineError("proxy --mode socks --listen 0.0.0.0:1", 2, "socks");
    expectOneLineError("proxy --mode redirect --listen 0.0.0.0:0", 2, "port 0");
    expectOneLineError("proxy --mode redirect --listen 0.0.0.0:65536", 2, "65536");
    expectOneLineError("proxy --mode redirect --listen 999.0.0.1:80", 2, "999.0.0.1");
    expectOneLineError("proxy --mode redirect --listen 2001:db8::1:80", 2, "[ADDR]:PORT");
    expectOneLineError("proxy --mode redirect --listen", 2, "--listen");
    expectOneLineError("proxy --listen 0.0.0.0:1", 2, "--mode");
    expectOneLineError("proxy --mode redirect --listen 0.0.0.0:1 --max-connections 0", 2,
                       "--max-connections");
    expectOneLineError("proxy --mode redirect --listen 0.0.0.0:1 --connect-timeout -1", 2,
                       "--connect-timeout");
    expectOneLineError("proxy --mode redirect --listen 0.0.0.0:1 --mark lots", 2, "--mark");
    expectOneLineError("frobnicate", 2, "frobnicate");
    expectOneLineError("proxy --mode redirect --udp --listen 127.0.0.1:15997", 2,
                       "redirect mode cannot proxy UDP");
    expectOneLineError("", 2, "subcommand");
}

TEST(Cli, AddressInUseIsASetupFailureNamingBindAndTheAddress) {
    Fd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
    ASSERT_EQ(::listen(holder.get(), 1), 0);
    ::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&address), &length);
    std::string endpoint = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
    expectOneLineError("proxy --mode redirect --listen " + endpoint, 1,
                       "bind(" + endpoint + "): Address already in use");
}

TEST(Cli, TproxyWithoutCapNetAdminSaysItNeedsIt) {
    // As root, drop the capabilities for the child; as a user, the kernel refuses anyway.
    std::string prefix = ::geteuid() == 0 ? "setpriv --bounding-set -net_admin,-net_raw " : "";
    auto result = runShell(prefix + TPLAB_BINARY +
                           " proxy --mode tproxy --listen 127.0.0.1:15999 </dev/null");
    EXPECT_EQ(result.exitCode, 1) << result.output;
    EXPECT_EQ(lineCount(result.output), 1u) << result.output;
    EXPECT_NE(result.output.find("TPROXY mode needs CAP_NET_ADMIN"), std::string::npos)
        << result.output;
}

TEST(Cli, AnEventsFileInAMissingDirectoryIsBadInput) {
    expectOneLineError("proxy --mode redirect --listen 127.0.0.1:15998 --events /nonexistent/x", 2,
                       "/nonexistent/x");
}

}  // namespace
}  // namespace tplab::test
