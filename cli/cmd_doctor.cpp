// `tplab doctor`: what in this namespace makes transparent proxying fail silently, and the fix.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "checks.hpp"
#include "command.hpp"
#include "help_formatter.hpp"
#include "option_checks.hpp"
#include "where_to_look.hpp"

namespace tplab {
namespace {

// Exit codes: 0 all fine (or only information), 1 warnings, 3 at least one failure
// (2 is kept for bad input, as in every tplab command).
int exitCodeFor(Severity worst) {
    switch (worst) {
        case Severity::Ok:
        case Severity::Info:
            return 0;
        case Severity::Warn:
            return 1;
        case Severity::Fail:
            return 3;
    }
    return 3;
}

struct DoctorCommandOptions {
    DoctorOptions checks;
    bool json = false;
    bool all = false;
    std::uint32_t mark = 0;  // --mark, when given
    bool noFix = false;  // exercises: where to look instead of the fix (--no-fix, TPLAB_EXERCISE=1)
};

// The exercise scripts set TPLAB_EXERCISE=1, so a student's plain `tplab doctor` diagnoses
// without handing over the command that fixes the fault.
bool exerciseMode() {
    const char* value = std::getenv("TPLAB_EXERCISE");
    return value != nullptr && std::string(value) == "1";
}

// Prints `text` after `lead`, wrapped to kHelpWidth columns; continuation lines start at
// `indent`, under the text's first column.
void printWrapped(const std::string& lead, const std::string& text, std::size_t indent) {
    std::size_t room = kHelpWidth > indent + 20 ? kHelpWidth - indent : 20;
    std::istringstream lines(wrapText(text, room));
    std::string line;
    bool first = true;
    while (std::getline(lines, line)) {
        std::printf("%s%s\n", first ? lead.c_str() : std::string(indent, ' ').c_str(),
                    line.c_str());
        first = false;
    }
}

void printText(const std::vector<Finding>& findings, bool all, bool noFix) {
    std::size_t width = 0;
    for (const auto& finding : findings)
        width = std::max(width, finding.id.size());
    std::map<Severity, int> counts;
    for (const auto& finding : findings) {
        ++counts[finding.severity];
        if (!all && finding.severity == Severity::Ok)
            continue;
        std::string severity = toString(finding.severity);
        std::string lead = severity +
                           std::string(6 - std::min<std::size_t>(severity.size(), 4), ' ') +
                           finding.id + std::string(width - finding.id.size() + 2, ' ');
        printWrapped(lead, finding.summary, lead.size());
        if (noFix && !finding.fix.empty()) {
            printWrapped(std::string(lead.size(), ' ') + "look: ", whereToLook(finding),
                         lead.size() + 6);
        } else if (!finding.fix.empty()) {
            printWrapped(std::string(lead.size(), ' ') + "fix: ", finding.fix, lead.size() + 5);
        }
    }
    std::printf("%d ok%s, %d info, %d warn, %d FAIL\n", counts[Severity::Ok],
                all ? "" : " (--all shows them)", counts[Severity::Info], counts[Severity::Warn],
                counts[Severity::Fail]);
    if (counts[Severity::Fail] > 0) {
        printWrapped("",
                     "where and why the kernel drops it: tplab trace --port PORT -- COMMAND "
                     "(docs/trace.md)",
                     0);
    }
}

int runDoctor(const DoctorCommandOptions& cli) {
    auto findings =
        runChecks(takeSnapshot(cli.checks.port, cli.checks.mode == "sk-lookup"), cli.checks);
    bool noFix = cli.noFix || exerciseMode();
    if (cli.json) {
        nlohmann::ordered_json report = {{"worst", toString(worstOf(findings))},
                                         {"findings", nlohmann::ordered_json::array()}};
        for (const auto& finding : findings) {
            nlohmann::ordered_json entry = {{"id", finding.id},
                                            {"severity", toString(finding.severity)},
                                            {"summary", finding.summary}};
            if (noFix) {
                entry["look"] = whereToLook(finding);
            } else {
                entry["fix"] = finding.fix;
            }
            report["findings"].push_back(entry);
        }
        std::printf("%s\n", report.dump(2).c_str());
    } else {
        printText(findings, cli.all, noFix);
    }
    return exitCodeFor(worstOf(findings));
}

}  // namespace

Command setupDoctorCommand(CLI::App& parent) {
    auto cli = std::make_shared<DoctorCommandOptions>();
    CLI::App* app = parent.add_subcommand(
        "doctor",
        "Check this network namespace for what makes transparent proxying fail silently:\n"
        "forwarding, effective rp_filter, src_valid_mark, the TPROXY mark vs the fwmark ip rule\n"
        "and its local route, the spoofing return path, kernel support, CAP_NET_ADMIN, conntrack\n"
        "usage, bridge-nf-call-iptables, and a listener (with IP_TRANSPARENT) on --port; for\n"
        "anyip and sk-lookup the iif ip rule and its local route, and for sk-lookup the BPF link\n"
        "in this namespace and the listener in its socket map. Each finding comes with the\n"
        "command that fixes it (with --no-fix, or TPLAB_EXERCISE=1 in the environment, with\n"
        "where to look instead). Exit 0 fine, 1 warnings, 3 failures. See docs/doctor.md.");
    app->add_option("--mode", cli->checks.mode,
                    "redirect, tproxy, anyip or sk-lookup: how traffic should reach the proxy")
        ->check(CLI::IsMember({"redirect", "tproxy", "anyip", "sk-lookup"}));
    app->add_option("--port", cli->checks.port, "The proxy's port: check that something listens")
        ->check(CLI::Range(1, 65535));
    app->add_flag("--spoof-source", cli->checks.spoofSource,
                  "Check the return path of tplab proxy --spoof-source too");
    app->add_flag("--udp", cli->checks.udp, "Expect a UDP listener on --port too");
    auto* mark = app->add_option("--mark", cli->mark,
                                 "With --spoof-source: the proxy's --mark, which the conntrack "
                                 "zone rules must match (default: the mark they use)")
                     ->check(nonEmpty());
    app->add_flag("--json", cli->json, "Print the findings as JSON");
    app->add_flag("--all", cli->all, "Also print the checks that passed");
    app->add_flag("--no-fix", cli->noFix,
                  "For exercises: say what is wrong and where to look (table, counter, "
                  "capture), never the command that fixes it; TPLAB_EXERCISE=1 does the same");
    return Command{app, [cli, mark] {
                       if (mark->count() > 0) {
                           cli->checks.mark = cli->mark;
                       }
                       return runDoctor(*cli);
                   }};
}

}  // namespace tplab
