// Running plan commands with posix_spawn, and the sysctl values saved between --apply and
// --remove (per network namespace, since /run is shared between namespaces).
#include "rule_runner.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "fd.hpp"
#include "result.hpp"

namespace tplab {
namespace {

const char* kStateDir = "/run/tplab";

// The namespace's cookie (SO_NETNS_COOKIE) is unique for the whole boot, unlike its inode,
// which a new namespace may reuse: a stale state file must never be applied to another one.
std::string namespaceKey() {
    Fd probe(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    std::uint64_t cookie = 0;
    socklen_t length = sizeof(cookie);
    if (probe && ::getsockopt(probe.get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &length) == 0) {
        return "cookie" + std::to_string(cookie);
    }
    struct stat ns {};
    ::stat("/proc/self/ns/net", &ns);
    return "inode" + std::to_string(ns.st_ino);
}

std::string statePath() {
    return std::string(kStateDir) + "/rules-net-" + namespaceKey() + ".state";
}

// What --apply changed: the sysctls' earlier values and the steps it really added, so --remove
// undoes exactly that and leaves alone what was there before.
struct AppliedState {
    std::map<std::string, std::string> sysctls;
    std::set<std::string> added;
    std::set<std::string> createdTables;  // iptables-nft tables that did not exist before
    bool exists = false;
};

AppliedState loadState() {
    AppliedState state;
    std::ifstream in(statePath());
    if (!in)
        return state;
    auto json = nlohmann::json::parse(in, nullptr, false);
    if (json.is_discarded())
        return state;
    state.exists = true;
    state.sysctls = json.value("sysctls", std::map<std::string, std::string>{});
    state.added = json.value("added", std::set<std::string>{});
    state.createdTables = json.value("created_tables", std::set<std::string>{});
    return state;
}

void storeState(const AppliedState& state) {
    ::mkdir(kStateDir, 0755);
    std::ofstream out(statePath(), std::ios::trunc);
    out << nlohmann::json{{"sysctls", state.sysctls},
                          {"added", state.added},
                          {"created_tables", state.createdTables}}
               .dump(2)
        << "\n";
}

std::string trim(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

void mustRun(const ShellCommand& command, std::FILE* out) {
    std::fprintf(out, "+ %s\n", command.text().c_str());
    auto outcome = runCommand(command);
    if (outcome.exitCode != 0) {
        throw std::runtime_error(command.argv.front() + " failed (exit " +
                                 std::to_string(outcome.exitCode) + "): " + trim(outcome.output) +
                                 " [" + command.text() + "]");
    }
}

// iptables-nft creates an nf_tables table (ip nat, ip6 mangle...) on first use and leaves it,
// empty, when the last rule goes: iptables-save then shows a table that was not there before.
bool iptablesUsesNftables() {
    return runCommand(ShellCommand{{"iptables", "-V"}, ""}).output.find("nf_tables") !=
           std::string::npos;
}

bool nftTableExists(const std::string& table) {
    std::vector<std::string> argv = {"nft", "list", "table"};
    std::istringstream words(table);
    for (std::string word; words >> word;)
        argv.push_back(word);
    return runCommand(ShellCommand{argv, ""}).exitCode == 0;
}

bool present(const RuleStep& step) {
    return step.isPresent && runCommand(*step.isPresent).exitCode == 0;
}

}  // namespace

// Rule order matters (the RETURN that exempts the proxy must precede the REDIRECT): when some
// iptables rules of the plan are missing, take the present ones out so all go back in order.
static void reorderIfIncomplete(const std::vector<RuleStep>& steps, std::FILE* out) {
    bool missing = false;
    std::vector<const RuleStep*> presentRules;
    for (const auto& step : steps) {
        if (step.nftTable.empty())
            continue;
        if (present(step)) {
            presentRules.push_back(&step);
        } else {
            missing = true;
        }
    }
    if (!missing)
        return;
    for (auto step = presentRules.rbegin(); step != presentRules.rend(); ++step) {
        mustRun(*(*step)->remove, out);
    }
}

void applyPlan(const std::vector<RuleStep>& steps, std::FILE* out) {
    auto state = loadState();
    reorderIfIncomplete(steps, out);
    for (const auto& step : steps) {
        if (!step.sysctl.empty() && !state.sysctls.count(step.sysctl)) {
            auto current = runCommand(ShellCommand{{"sysctl", "-n", step.sysctl}, ""});
            if (current.exitCode == 0) {
                state.sysctls[step.sysctl] = trim(current.output);
            }
        }
        if (present(step)) {
            std::fprintf(out, "= already in place: %s\n", step.apply.text().c_str());
            continue;
        }
        if (!step.nftTable.empty() && !state.createdTables.count(step.nftTable) &&
            iptablesUsesNftables() && !nftTableExists(step.nftTable)) {
            state.createdTables.insert(step.nftTable);
        }
        mustRun(step.apply, out);
        state.added.insert(step.apply.text());
        storeState(state);
    }
    storeState(state);
}

void removePlan(const std::vector<RuleStep>& steps, std::FILE* out) {
    auto state = loadState();
    for (auto step = steps.rbegin(); step != steps.rend(); ++step) {
        if (!step->sysctl.empty()) {
            if (auto value = state.sysctls.find(step->sysctl); value != state.sysctls.end()) {
                mustRun(ShellCommand{{"sysctl", "-qw", step->sysctl + "=" + value->second}, ""},
                        out);
            }
            continue;
        }
        // What --apply added and is still there (a rule deleted by hand since is no error);
        // without a record (rules typed from the printed plan), whatever of the plan is there.
        bool ours = (!state.exists || state.added.count(step->apply.text()) > 0) && present(*step);
        if (step->remove && ours) {
            mustRun(*step->remove, out);
        }
    }
    for (const auto& table : state.createdTables) {
        if (nftTableExists(table)) {
            std::vector<std::string> argv = {"nft", "delete", "table"};
            std::istringstream words(table);
            for (std::string word; words >> word;)
                argv.push_back(word);
            mustRun(ShellCommand{argv, ""}, out);
        }
    }
    ::unlink(statePath().c_str());
}

}  // namespace tplab
