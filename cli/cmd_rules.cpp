// `tplab rules`: the complete, commented rule set for a mode; --apply and --remove make it so.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "rule_plan.hpp"
#include "rule_runner.hpp"

namespace tplab {
namespace {

struct RulesCommandOptions {
    std::string mode;
    std::string firewall = "iptables";
    std::uint16_t port = 0;
    bool ipv4 = false;
    bool ipv6 = false;
    bool tcp = false;
    bool udp = false;
    bool local = false;
    bool spoofSource = false;
    std::uint32_t mark = 2;
    int table = 100;
    std::string inInterface;
    std::vector<std::uint16_t> destinationPorts;
    std::string toAddress4;
    std::string toAddress6;
    std::vector<std::string> prefixes;
    bool apply = false;
    bool remove = false;
    bool inInterfaceGiven = false;
};

RuleSpec specFrom(const RulesCommandOptions& cli) {
    RuleSpec spec;
    spec.mode = cli.mode == "redirect"    ? InterceptMode::Redirect
                : cli.mode == "dnat"      ? InterceptMode::Dnat
                : cli.mode == "anyip"     ? InterceptMode::Anyip
                : cli.mode == "sk-lookup" ? InterceptMode::SkLookup
                                          : InterceptMode::Tproxy;
    spec.firewall = cli.firewall == "nft" ? Firewall::Nft : Firewall::Iptables;
    spec.proxyPort = cli.port;
    spec.ipv4 = cli.ipv4 || !cli.ipv6;  // neither flag: both families
    spec.ipv6 = cli.ipv6 || !cli.ipv4;
    spec.tcp = cli.tcp || !cli.udp;  // neither flag: TCP
    spec.udp = cli.udp;
    spec.local = cli.local;
    spec.spoofSource = cli.spoofSource;
    spec.proxyMark = cli.mark;
    spec.table = cli.table;
    spec.inInterface = cli.inInterface;
    spec.destinationPorts = cli.destinationPorts;
    spec.dnatAddress4 = cli.toAddress4;
    spec.dnatAddress6 = cli.toAddress6;
    spec.anyipPrefixes = cli.prefixes;
    return spec;
}

int runRules(const RulesCommandOptions& cli) {
    if (cli.apply && cli.remove) {
        throw UsageError("--apply and --remove exclude each other");
    }
    if (cli.inInterfaceGiven && cli.inInterface.empty()) {
        throw UsageError("--in-interface '': an interface name has 1 to 15 bytes");
    }
    auto steps = planRules(specFrom(cli));
    if (cli.apply) {
        applyPlan(steps, stdout);
    } else if (cli.remove) {
        removePlan(steps, stdout);
    } else {
        std::fputs(renderPlan(steps).c_str(), stdout);
    }
    return 0;
}

}  // namespace

Command setupRulesCommand(CLI::App& parent) {
    auto cli = std::make_shared<RulesCommandOptions>();
    CLI::App* app = parent.add_subcommand(
        "rules",
        "Print the complete rule set a mode needs (sysctls, ip rule/route, iptables or nft),\n"
        "every line with the reason it is there. --apply makes it so and --remove undoes exactly\n"
        "what --apply added, both idempotent. Neither --ipv4 nor --ipv6 means both; TCP unless\n"
        "--udp (give --tcp --udp for both). Every TPROXY rule comes behind two guards: packets\n"
        "of the gateway's own sockets and for its own addresses are left alone, so even an\n"
        "unscoped rule keeps the gateway reachable. anyip: no netfilter at all, an ip rule per\n"
        "--dport and a local route for --prefix; tplab proxy --mode tproxy listens on each\n"
        "--dport. sk-lookup: the same routing, and tplab proxy --mode sk-lookup's BPF program\n"
        "picks the listener. Values are checked; a bad one exits 2. See docs/rules.md,\n"
        "docs/anyip.md, docs/sk-lookup.md.");
    app->add_option("--mode", cli->mode,
                    "redirect, dnat, tproxy, anyip or sk-lookup (the last two: policy routing "
                    "only, need --in-interface)")
        ->required()
        ->check(CLI::IsMember({"redirect", "dnat", "tproxy", "anyip", "sk-lookup"}));
    app->add_option("--firewall", cli->firewall, "iptables or nft")
        ->check(CLI::IsMember({"iptables", "nft"}))
        ->capture_default_str();
    app->add_option("--port", cli->port,
                    "The port tplab proxy listens on (required; not with anyip or sk-lookup, "
                    "where the connection keeps its port)")
        ->check(CLI::Range(1, 65535));
    app->add_flag("--ipv4", cli->ipv4, "IPv4 rules");
    app->add_flag("--ipv6", cli->ipv6, "IPv6 rules");
    app->add_flag("--tcp", cli->tcp, "Intercept TCP");
    app->add_flag("--udp", cli->udp, "Intercept UDP (tproxy, anyip and sk-lookup only)");
    app->add_option("--dport", cli->destinationPorts,
                    "Intercept only these destination ports (repeat, or a,b); default all")
        ->delimiter(',')
        ->check(CLI::Range(1, 65535));
    app->add_flag(
        "--local", cli->local,
        "Also intercept the gateway's own traffic (OUTPUT), exempting the proxy's --mark");
    app->add_flag("--spoof-source", cli->spoofSource,
                  "Add the return path for tplab proxy --spoof-source, and conntrack zone 1 "
                  "for its upstreams (found by --mark)");
    app->add_option("--mark", cli->mark,
                    "The proxy's SO_MARK (tplab proxy --mark), exempted with --local; must not "
                    "overlap the TPROXY mark 0x1")
        ->capture_default_str();
    app->add_option("--table", cli->table, "Routing table for the local route")
        ->check(CLI::Range(1, 252))
        ->capture_default_str();
    auto* inInterface = app->add_option(
        "--in-interface", cli->inInterface,
        "Only traffic arriving on this interface (1-15 of A-Z a-z 0-9 _ . @ + -, exact name)");
    app->add_option("--to-address", cli->toAddress4,
                    "--mode dnat: the IPv4 address to DNAT to (one address, no prefix)");
    app->add_option("--to-address6", cli->toAddress6, "--mode dnat: the IPv6 address to DNAT to");
    app->add_option("--prefix", cli->prefixes,
                    "anyip, sk-lookup: destinations made local, e.g. 198.51.100.0/24 (repeat, or "
                    "a,b); default all (0.0.0.0/0, ::/0)")
        ->delimiter(',');
    app->add_flag("--apply", cli->apply, "Make it so (idempotent)");
    app->add_flag("--remove", cli->remove, "Undo what --apply added (idempotent)");
    return Command{app, [cli, inInterface] {
                       cli->inInterfaceGiven = inInterface->count() > 0;
                       return runRules(*cli);
                   }};
}

}  // namespace tplab
