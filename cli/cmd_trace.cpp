// `tplab trace`: one flow's path through this namespace's kernel: hooks, rules, verdicts,
// routing, socket lookup, and the kernel's reason for every drop. See docs/trace.md.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "command.hpp"
#include "drop_session.hpp"
#include "fd.hpp"
#include "flow_filter.hpp"
#include "journey.hpp"
#include "leftovers.hpp"
#include "netns.hpp"
#include "nft_trace_session.hpp"
#include "option_checks.hpp"
#include "result.hpp"
#include "route_probe.hpp"
#include "ruleset_snapshot.hpp"
#include "trace_output.hpp"

namespace tplab {
namespace {

struct TraceOptions {
    FlowFilter filter;
    std::vector<int> ports;
    std::string netns;
    bool udp = false;
    double timeout = 10;
    int legs = 2;
    int packets = 3;
    bool json = false;
    std::string jsonFile;
    bool noDrops = false;
    bool allDrops = false;
    bool cleanup = false;
    std::vector<std::string> command;
};

// How long to keep listening after the command ends: its last packets' events and drops.
constexpr double kGrace = 0.5;

bool validNetnsName(const std::string& name) {
    return !name.empty() && name.size() < 64 && name != "." && name != ".." &&
           name.find_first_not_of(
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
               std::string::npos;
}

// Legacy iptables rules live outside nf_tables: nft tracing cannot see them.
bool legacyIptablesPresent() {
    for (const char* path : {"/proc/net/ip_tables_names", "/proc/net/ip6_tables_names"}) {
        std::ifstream names(path);
        std::string name;
        if (names >> name)
            return true;
    }
    return false;
}

Fd blockedSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
        throw setupError(errno, "sigprocmask");
    Fd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd)
        throw setupError(errno, "signalfd");
    return fd;
}

int runTrace(TraceOptions& cli) {
    for (int port : cli.ports)
        cli.filter.ports.push_back(static_cast<std::uint16_t>(port));
    cli.filter.protocol = cli.udp ? "udp" : "tcp";
    if (!cli.netns.empty() && !validNetnsName(cli.netns))
        throw UsageError("--netns '" + cli.netns +
                         "' is not a namespace name (letters, digits, "
                         "'_', '.', '-')");
    if (!cli.netns.empty() && ::access(("/run/netns/" + cli.netns).c_str(), F_OK) != 0)
        throw UsageError("--netns " + cli.netns + ": no such namespace under /run/netns");
    if (cli.cleanup) {
        if (!cli.ports.empty() || !cli.command.empty())
            throw UsageError("--cleanup takes no flow and no command");
    } else {
        try {
            validateFlowFilter(cli.filter);
        } catch (const std::invalid_argument& e) {
            throw UsageError(e.what());
        }
    }
    if (::geteuid() != 0)
        throw setupError(EPERM, "tplab trace needs root (nft tables, tracefs)");

    Fd signals = blockedSignals();
    for (const auto& line : removeLeftovers(cli.netns))
        std::fprintf(stderr, "tplab trace: removed a leftover of a dead trace: %s\n", line.c_str());
    if (cli.cleanup)
        return 0;

    const long pid = static_cast<long>(::getpid());
    enterNetns(cli.netns);  // the children (nft, ip, the command) start in it too
    TraceContext context;
    context.netns = cli.netns;
    context.filter = describe(cli.filter);
    context.allDrops = cli.allDrops;
    std::optional<DropSession> drops;
    if (cli.noDrops) {
        context.notes.push_back("drop reasons not traced (--no-drops)");
    } else {
        drops.emplace(pid, cli.filter.family);
        if (drops->available())
            context.dropsFrom = drops->instancePath();
        else
            context.notes.push_back(drops->unavailableReason());
    }
    TraceState state{pid, cli.netns, drops && drops->available() ? context.dropsFrom : "",
                     drops && drops->mountedTracefs()};
    if (int err = writeTraceState(state))
        context.notes.push_back("could not write /run/tplab/trace-" + std::to_string(pid) + " (" +
                                errnoText(err) + "): after a SIGKILL run --cleanup");
    if (legacyIptablesPresent())
        context.notes.push_back(
            "legacy iptables tables exist here: their rules are invisible "
            "to nft tracing (iptables-nft rules are shown)");

    std::optional<NftTraceSession> nft;
    try {
        nft.emplace(cli.filter, pid);
    } catch (const std::exception&) {
        if (drops)
            drops->close();
        removeTraceState(pid);
        throw;
    }
    context.table = nft->table();
    std::fprintf(stderr, "tplab trace: tracing %s%s (table inet %s)%s\n", context.filter.c_str(),
                 cli.netns.empty() ? "" : (" in " + cli.netns).c_str(), nft->table().c_str(),
                 cli.command.empty() ? "; Ctrl-C ends it" : "");

    std::unique_ptr<ChildProcess> child;
    if (!cli.command.empty())
        child = std::make_unique<ChildProcess>(cli.command, false);
    double deadline = monotonicSeconds() + cli.timeout;
    double graceEnd = 0;
    std::string stoppedBy;
    for (;;) {
        pollfd fds[3] = {{nft->fd(), POLLIN, 0},
                         {signals.get(), POLLIN, 0},
                         {drops && drops->available() ? drops->fd() : -1, POLLIN, 0}};
        ::poll(fds, 3, 50);
        nft->readAvailable();
        if (drops)
            drops->readAvailable();
        signalfd_siginfo info{};
        if (::read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
            stoppedBy = "signal " + std::to_string(info.ssi_signo);
            break;
        }
        double now = monotonicSeconds();
        if (child && graceEnd == 0 && child->exited())
            graceEnd = now + kGrace;
        if (graceEnd != 0 && now >= graceEnd)
            break;
        if (now >= deadline) {
            stoppedBy = "--timeout";
            break;
        }
    }
    if (child && !child->exited()) {
        child->stop();
        context.notes.push_back("the command was still running at " + stoppedBy + ": stopped it");
    } else if (child && child->exitStatus() != 0) {
        context.notes.push_back("the command exited with status " +
                                std::to_string(child->exitStatus()));
    }
    nft->readAvailable();
    if (drops)
        drops->readAvailable();
    RulesetSnapshot rules = RulesetSnapshot::take();  // before our table goes, rules still in
    std::string problems = nft->close();
    if (drops)
        problems += drops->close();
    removeTraceState(pid);

    JourneyOptions options{nft->table(), cli.legs, cli.packets};
    Journey journey =
        assembleJourney(nft->events(), drops ? drops->drops() : std::vector<DropEvent>{}, rules,
                        options, probeRoute);
    if (!cli.jsonFile.empty()) {
        std::ofstream file(cli.jsonFile, std::ios::trunc);
        file << journeyJson(journey, context).dump(2) << "\n";
        if (!file.good())
            problems += "could not write " + cli.jsonFile + "\n";
    }
    if (cli.json)
        std::printf("%s\n", journeyJson(journey, context).dump(2).c_str());
    else
        std::printf("%s", journeyText(journey, context).c_str());
    if (!problems.empty())
        std::fprintf(stderr, "tplab trace: %s", problems.c_str());
    return problems.empty() ? 0 : 1;
}

}  // namespace

Command setupTraceCommand(CLI::App& parent) {
    auto cli = std::make_shared<TraceOptions>();
    CLI::App* app = parent.add_subcommand(
        "trace",
        "Show one connection's path through the kernel of a network namespace: each netfilter\n"
        "hook, table, chain and rule it passes with the verdict, the routing decision and the\n"
        "socket lookup (inferred, and marked so), and the kernel's drop reason where it dies\n"
        "(skb:kfree_skb). Tracing is on only for the flow (--port, --udp, --host) and only while\n"
        "tplab runs; with a COMMAND after --, it traces while the command runs. Nothing stays\n"
        "on afterwards; --cleanup removes what a killed trace left. See docs/trace.md.\n"
        "Example: tplab trace --netns tpl-gw --port 80 -- ip netns exec tpl-client curl URL");
    app->add_option("--netns", cli->netns,
                    "Trace in this network namespace (a name under /run/netns)");
    app->add_option("--port", cli->ports,
                    "A port of the flow, source or destination (1-4 of them, repeat the option)")
        ->check(CLI::Range(1, 65535));
    app->add_flag("--udp", cli->udp, "The flow is UDP (default TCP)");
    app->add_option("--host", cli->filter.host, "Only packets from or to this IPv4/IPv6 address");
    app->add_option("--family", cli->filter.family, "Only IPv4 (4) or IPv6 (6)")
        ->check(CLI::IsMember({4, 6}));
    app->add_option("--timeout", cli->timeout,
                    "Stop tracing after this long, in seconds (default 10): " +
                        describeSeconds(0.1, 600, false))
        ->check(secondsBetween(0.1, 600));
    app->add_option("--legs", cli->legs,
                    "Show this many connections (default 2: the client's and the proxy's)")
        ->check(CLI::Range(1, 16));
    app->add_option("--packets", cli->packets,
                    "Show this many different packets per connection (default 3: a handshake)")
        ->check(CLI::Range(1, 100));
    app->add_flag("--json", cli->json, "Print the journey as JSON");
    app->add_option("--json-file", cli->jsonFile,
                    "Also write the journey as JSON to this file (the text still goes to stdout)")
        ->check(nonEmpty());
    app->add_flag("--no-drops", cli->noDrops, "Do not trace drop reasons (no tracefs)");
    app->add_flag("--all-drops", cli->allDrops,
                  "Also list the drops seen while tracing that were not tied to the flow");
    app->add_flag("--cleanup", cli->cleanup,
                  "Only remove what dead tplab traces left (tables, tracefs instances, mounts)");
    app->add_option("command", cli->command,
                    "After --: a command that makes the traffic; tracing ends when it does");
    return Command{app, [cli] { return runTrace(*cli); }};
}

}  // namespace tplab
