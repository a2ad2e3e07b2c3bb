// `tplab proxy`: run the proxy: transparent (redirect, tproxy) or explicit (socks5,
// http-connect), optionally through a next SOCKS5 proxy (--upstream socks5://).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "access_policy.hpp"
#include "command.hpp"
#include "conntrack_zone.hpp"
#include "events_json.hpp"
#include "fd_limit.hpp"
#include "gateway_address_watcher.hpp"
#include "log.hpp"
#include "make_backend.hpp"
#include "option_checks.hpp"
#include "private_file.hpp"
#include "privileges.hpp"
#include "proxy_protocol.hpp"
#include "proxy_workers.hpp"
#include "signal_watcher.hpp"
#include "socks5_protocol.hpp"

namespace tplab {
namespace {

struct ProxyCommandOptions {
    std::string mode;
    std::vector<std::string> listen;
    std::string events;
    std::uint32_t mark = 0;
    bool spoofSource = false;
    bool udp = false;
    double udpIdleTimeout = 30;
    std::size_t maxUdpSessions = 4096;
    std::size_t maxUdpSessionsPerClient = 0;  // 0: max(1, maxUdpSessions / 8)
    double connectTimeout = 5;
    double idleTimeout = 300;
    std::size_t maxConnections = 4096;
    std::size_t maxConnectionsPerClient = 0;  // 0: max(1, maxConnections / 8)
    unsigned workers = 0;                     // 0: one per online CPU
    std::string splice = "auto";
    double drainTimeout = 10;
    int verbosity = 0;
    std::string user;
    std::string socksUser;
    std::string socksPasswordFile;
    std::string upstream;
    std::string sendProxy;                     // "", v1, v2
    std::vector<std::uint16_t> steeredPorts;   // sk-lookup: --dport
    std::vector<std::string> steeredPrefixes;  // sk-lookup: --prefix
    std::vector<std::string> allowClients;     // --allow-client CIDR
    std::vector<std::string> allowDest;        // --allow-dest CIDR
    std::vector<std::string> denyDest;         // --deny-dest CIDR
};

bool isExplicitMode(const std::string& mode) {
    return mode == "socks5" || mode == "http-connect";
}

std::string checkSocks5Url(const std::string& text) {
    try {
        parseSocks5Url(text);
        return "";
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
}

// The password is read from a file so that it never shows in ps or a shell history; the
// file is checked as --events is (a private regular file, no symlink, at most 1 MiB). One
// trailing newline is dropped (echo secret > file).
std::string readPasswordFile(const std::string& path) {
    constexpr std::size_t kMaxPasswordFileBytes = std::size_t{1} << 20;
    std::string password = readPrivateFile(path, "--socks-password-file", kMaxPasswordFileBytes);
    if (!password.empty() && password.back() == '\n') {
        password.pop_back();
    }
    if (!password.empty() && password.back() == '\r') {
        password.pop_back();
    }
    if (password.empty() || password.size() > 255 || password.find('\n') != std::string::npos) {
        throw UsageError("--socks-password-file " + path +
                         ": must hold one password of 1 to 255 bytes on one line");
    }
    return password;
}

std::optional<Socks5Credentials> credentialsOf(const ProxyCommandOptions& cli) {
    if (cli.socksUser.empty() && cli.socksPasswordFile.empty()) {
        return std::nullopt;
    }
    if (!isExplicitMode(cli.mode)) {
        throw UsageError(
            "--socks-user and --socks-password-file are for --mode socks5 or "
            "http-connect, not " +
            cli.mode);
    }
    if (cli.socksUser.empty() || cli.socksPasswordFile.empty()) {
        throw UsageError("--socks-user and --socks-password-file go together");
    }
    if (cli.socksUser.size() > 255) {
        throw UsageError("--socks-user: at most 255 bytes (RFC 1929)");
    }
    return Socks5Credentials{cli.socksUser, readPasswordFile(cli.socksPasswordFile)};
}

// sk-lookup's --dport: the ports its BPF program hands to the proxy, for TCP (and UDP with --udp).
std::vector<SteeredPort> steeredPortsOf(const ProxyCommandOptions& cli) {
    if (cli.mode != "sk-lookup") {
        if (!cli.steeredPorts.empty()) {
            throw UsageError("--dport is for --mode sk-lookup, not " + cli.mode +
                             " (the rules choose the ports there: tplab rules --dport)");
        }
        return {};
    }
    if (cli.steeredPorts.empty()) {
        throw UsageError("--mode sk-lookup needs --dport: the destination ports to steer");
    }
    std::set<std::uint16_t> unique(cli.steeredPorts.begin(), cli.steeredPorts.end());
    if (unique.size() * (cli.udp ? 2 : 1) > kMaxSteeredPorts) {
        throw UsageError("--dport: at most " + std::to_string(kMaxSteeredPorts) +
                         " ports (half that with --udp), the size of the BPF port map");
    }
    std::vector<SteeredPort> ports;
    for (auto port : unique) {
        ports.push_back({IPPROTO_TCP, port});
        if (cli.udp) {
            ports.push_back({IPPROTO_UDP, port});
        }
    }
    return ports;
}

std::string checkPrefix(const std::string& text) {
    try {
        parseSteeredPrefix(text);
        return "";
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
}

// sk-lookup's --prefix: the destinations its BPF program steers; none given means all of them.
std::vector<SteeredPrefix> steeredPrefixesOf(const ProxyCommandOptions& cli) {
    if (cli.steeredPrefixes.empty()) {
        return {};
    }
    if (cli.mode != "sk-lookup") {
        throw UsageError("--prefix is for --mode sk-lookup, not " + cli.mode +
                         " (in the other modes the rules decide what is intercepted)");
    }
    std::set<SteeredPrefix> unique;
    for (const auto& text : cli.steeredPrefixes) {
        unique.insert(parseSteeredPrefix(text));
    }
    for (int family : {AF_INET, AF_INET6}) {
        auto count = std::count_if(unique.begin(), unique.end(),
                                   [&](const SteeredPrefix& p) { return p.family == family; });
        if (static_cast<std::size_t>(count) > kMaxSteeredPrefixes) {
            throw UsageError("--prefix: at most " + std::to_string(kMaxSteeredPrefixes) + " " +
                             (family == AF_INET ? "IPv4" : "IPv6") +
                             " prefixes, the size of the BPF prefix map");
        }
    }
    return {unique.begin(), unique.end()};
}

std::string checkCidr(const std::string& text) {
    try {
        parseIpPrefix(text);
        return "";
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
}

// --allow-client, --allow-dest, --deny-dest and the mode's default denials (access_policy.hpp).
AccessRules accessRulesOf(const ProxyCommandOptions& cli) {
    AccessRules rules;
    auto parse = [](const std::vector<std::string>& texts, std::vector<IpPrefix>& out) {
        for (const auto& text : texts) {
            out.push_back(parseIpPrefix(text));
        }
    };
    parse(cli.allowClients, rules.allowClients);
    parse(cli.allowDest, rules.allowDest);
    parse(cli.denyDest, rules.denyDest);
    rules.explicitMode = isExplicitMode(cli.mode);
    return rules;
}

Clock::duration seconds(double value) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(value));
}

std::string checkEndpoint(const std::string& text) {
    try {
        Endpoint::parse(text);
        return "";
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
}

SpliceMode spliceMode(const std::string& text) {
    return text == "on" ? SpliceMode::Always : text == "off" ? SpliceMode::Never : SpliceMode::Auto;
}

// Raises the soft open-file limit to the hard one, then makes --max-connections fit in it:
// a limit the user chose and that cannot fit is an error; the default is lowered, with a word.
// Pipes for splice() get what is left, up to a quarter of the connections.
void fitConnectionsInFdLimit(ProxyOptions& options, std::size_t workers, bool maxGiven) {
    FdLimits limits = raiseOpenFileLimit();
    // UDP sessions are not budgeted: at EMFILE the UDP table closes its least recently used
    // session and tries again (docs/udp.md), so UDP never stops the proxy from starting.
    std::size_t udpSessions = 0;
    std::size_t listeners = options.listen.size() * (options.udp ? 2 : 1);
    if (limits.soft == 0) {
        return;
    }
    std::size_t needed = fdsNeeded(options.maxConnections, udpSessions, workers, listeners);
    if (needed > limits.soft) {
        std::size_t fit = connectionsThatFit(limits.soft, udpSessions, workers, listeners);
        std::string what = "--max-connections " + std::to_string(options.maxConnections) +
                           " needs at least " + std::to_string(needed) +
                           " open files, and the hard limit (ulimit -Hn) is " +
                           std::to_string(limits.hard);
        if (maxGiven || fit == 0) {
            throw std::system_error(EMFILE, std::generic_category(),
                                    what +
                                        ": raise it (prlimit, LimitNOFILE= in a systemd unit) "
                                        "or lower --max-connections to " +
                                        std::to_string(fit));
        }
        log::warn(what + ": lowering --max-connections to " + std::to_string(fit) +
                  " (raise the hard limit to keep the default)");
        options.maxConnections = fit;
    }
    options.maxPipes =
        pipesThatFit(limits.soft, options.maxConnections, udpSessions, workers, listeners);
    options.largePipes = largePipeBudget();
}

// What the options use at run time, after the listeners are open (--user keeps only these).
std::vector<Capability> capabilitiesNeeded(const ProxyCommandOptions& cli, bool markGiven) {
    std::vector<Capability> needed;
    if (cli.spoofSource || markGiven || cli.udp) {
        needed.push_back(Capability::NetAdmin);  // IP_TRANSPARENT upstream/replies, SO_MARK
    }
    if (cli.udp) {
        // A UDP reply socket binds the original destination, e.g. port 53: below 1024.
        needed.push_back(Capability::NetBindService);
    }
    return needed;
}

std::optional<TargetUser> targetUserOf(const ProxyCommandOptions& cli) {
    if (cli.user.empty()) {
        return std::nullopt;
    }
    TargetUser user = lookupUser(cli.user);
    if (::geteuid() != 0) {
        throw UsageError("--user " + cli.user +
                         ": switching user needs tplab to start as root (or leave --user out)");
    }
    return user;
}

void dropPrivilegesTo(const TargetUser& user, const std::vector<Capability>& keep) {
    dropPrivileges(user, keep);
    std::string kept;
    for (auto capability : keep) {
        kept += (kept.empty() ? "" : ", ") + toString(capability);
    }
    log::info("running as user " + user.name + " (uid " + std::to_string(user.uid) +
              "), capabilities: " + (kept.empty() ? "none" : kept));
}

int runProxy(const ProxyCommandOptions& cli, bool markGiven, bool maxGiven) {
    log::setLevel(cli.verbosity >= 1 ? log::Level::Debug : log::Level::Info);
    auto user = targetUserOf(cli);  // an unknown user is bad input: say so before listening

    ProxyOptions options;
    for (const auto& text : cli.listen) {
        options.listen.push_back(Endpoint::parse(text));
    }
    if (markGiven) {
        options.session.upstream.mark = cli.mark;
    }
    options.session.upstream.spoofSource = cli.spoofSource;
    if (cli.spoofSource && markGiven) {
        if (auto warning = conntrackZoneWarning(cli.mark); !warning.empty()) {
            log::warn(warning);  // docs/full-transparency.md: the fix's zone rules
        }
    }
    if (cli.spoofSource && !markGiven) {
        log::warn(
            "--spoof-source without --mark: the conntrack zones of `tplab rules "
            "--spoof-source` cannot find the upstream connections, so one whose 4-tuple "
            "a client flow also uses can be dropped (docs/full-transparency.md)");
    }
    options.session.connectTimeout = seconds(cli.connectTimeout);
    options.session.idleTimeout = seconds(cli.idleTimeout);
    if (!cli.upstream.empty()) {
        if (cli.udp) {
            throw UsageError("--upstream socks5:// carries TCP only; leave out --udp");
        }
        if (cli.spoofSource) {
            throw UsageError(
                "--upstream socks5:// and --spoof-source exclude each other: the "
                "next proxy, not tplab, opens the connection to the server");
        }
        options.session.upstreamProxy =
            std::make_shared<Socks5Upstream>(parseSocks5Url(cli.upstream));
    }
    if (!cli.sendProxy.empty()) {
        options.session.sendProxy = parseProxyProtocolVersion(cli.sendProxy);
    }
    options.maxConnections = cli.maxConnections;
    if (cli.maxConnectionsPerClient > cli.maxConnections && maxGiven) {
        throw UsageError("--max-connections-per-client " +
                         std::to_string(cli.maxConnectionsPerClient) +
                         " exceeds --max-connections " + std::to_string(cli.maxConnections));
    }
    options.splice = spliceMode(cli.splice);
    options.drainTimeout = seconds(cli.drainTimeout);
    if (cli.udp) {
        UdpSettings udp;
        udp.idleTimeout = seconds(cli.udpIdleTimeout);
        udp.maxSessions = cli.maxUdpSessions;
        udp.maxSessionsPerClient = cli.maxUdpSessionsPerClient;
        if (udp.maxSessionsPerClient > udp.maxSessions) {
            throw UsageError("--max-udp-sessions-per-client " +
                             std::to_string(udp.maxSessionsPerClient) +
                             " exceeds --max-udp-sessions " + std::to_string(udp.maxSessions));
        }
        udp.mark = options.session.upstream.mark;
        udp.spoofSource = cli.spoofSource;
        options.udp = udp;
    }

    if (cli.udp && isExplicitMode(cli.mode)) {
        throw UsageError("--udp is for --mode tproxy or sk-lookup; " + cli.mode +
                         " mode proxies TCP only (no UDP ASSOCIATE)");
    }
    SocketApi api;
    auto backend = makeBackend(cli.mode, api,
                               {credentialsOf(cli), steeredPortsOf(cli), steeredPrefixesOf(cli)});
    if (!backend) {
        throw UsageError("unknown mode '" + cli.mode + "'");
    }
    std::size_t workers = cli.workers > 0 ? cli.workers : std::thread::hardware_concurrency();
    workers = std::max<std::size_t>(1, workers);
    fitConnectionsInFdLimit(options, workers, maxGiven);
    options.maxConnectionsPerClient =
        cli.maxConnectionsPerClient == 0
            ? 0
            : std::min(cli.maxConnectionsPerClient, options.maxConnections);
    // Opened now, as the starting user; its writer thread starts after the privilege drop.
    EventSink events =
        cli.events.empty() ? EventSink() : EventSink(cli.events, EventSink::Start::Later);
    // The explicit modes refuse the gateway's own addresses: read now, kept current by netlink.
    GatewayAddresses gatewayAddresses;
    auto access = std::make_shared<const AccessPolicy>(accessRulesOf(cli), &gatewayAddresses);
    options.session.access = access;
    if (options.udp) {
        options.udp->access = access;
    }
    ProxyWorkers proxy(*backend, events, options, workers);
    std::optional<GatewayAddressWatcher> addressWatcher;
    if (isExplicitMode(cli.mode)) {
        addressWatcher.emplace(proxy.mainLoop(), gatewayAddresses);
    }
    SignalWatcher signals(proxy.mainLoop(), [&](int signal) {
        if (signal == SIGUSR1) {
            proxy.writeStats("SIGUSR1");
        } else {
            proxy.beginDrain();
        }
    });
    proxy.start();
    // Listeners are open: from here on nothing needs root. Before any thread starts.
    if (user) {
        dropPrivilegesTo(*user, capabilitiesNeeded(cli, markGiven));
    }
    events.startWriter();
    if (workers > 1) {
        log::info(std::to_string(workers) + " workers, each with its own SO_REUSEPORT listeners");
    }
    proxy.run();
    proxy.writeStats("exit");
    log::info("stopped after " + std::to_string(proxy.stats().accepted.get()) + " connection(s)");
    return 0;
}

}  // namespace

Command setupProxyCommand(CLI::App& parent) {
    auto cli = std::make_shared<ProxyCommandOptions>();
    CLI::App* app = parent.add_subcommand(
        "proxy",
        "Run the proxy. redirect mode: for nat REDIRECT/DNAT rules, recovers the destination\n"
        "with getsockopt(SO_ORIGINAL_DST). tproxy mode: for mangle TPROXY rules, listens with\n"
        "IP_TRANSPARENT and takes the destination from getsockname() (also for AnyIP routes).\n"
        "sk-lookup mode: tproxy's listener, chosen by a BPF sk_lookup program for --dport,\n"
        "with no netfilter rule. socks5, http-connect: explicit proxies, the client names the\n"
        "destination (no rules needed). See docs/redirect.md, docs/tproxy.md, docs/anyip.md,\n"
        "docs/sk-lookup.md, docs/explicit-proxy.md; events: docs/events.md.");
    app->add_option("--mode", cli->mode,
                    "redirect, tproxy or sk-lookup (transparent), socks5 (RFC 1928 CONNECT) or "
                    "http-connect (explicit)")
        ->required()
        ->check(CLI::IsMember({"redirect", "tproxy", "sk-lookup", "socks5", "http-connect"}));
    app->add_option("--dport", cli->steeredPorts,
                    "sk-lookup: the destination ports its BPF program steers to the listener "
                    "(repeat, or a,b; TCP, and UDP with --udp). Needs root or CAP_BPF + "
                    "CAP_NET_ADMIN at start; the program detaches when the proxy exits")
        ->delimiter(',')
        ->check(CLI::Range(1, 65535));
    app->add_option("--prefix", cli->steeredPrefixes,
                    "sk-lookup: steer only connections to these destinations, e.g. "
                    "198.51.100.0/24, 2001:db8::/32 (repeat, or a,b); default every "
                    "destination. Leave the gateway's own addresses out to keep its own "
                    "services on --dport reachable (docs/sk-lookup.md)")
        ->type_name("CIDR")
        ->delimiter(',')
        ->check(CLI::Validator(checkPrefix, "", "prefix"));
    app->add_option("--allow-client", cli->allowClients,
                    "Serve only clients in these prefixes (repeat, or a,b); others are refused "
                    "at accept (SOCKS5 reply 02, HTTP 403, a reset in the transparent modes, "
                    "UDP dropped). Default: every client (docs/security.md)")
        ->type_name("CIDR")
        ->delimiter(',')
        ->check(CLI::Validator(checkCidr, "", "prefix"));
    app->add_option("--allow-dest", cli->allowDest,
                    "Reopen a destination range a default denial closes, e.g. 127.0.0.1/32 "
                    "(repeat). socks5 and http-connect refuse by default loopback, unspecified, "
                    "link-local, multicast, broadcast and the gateway's own addresses; the "
                    "transparent modes loopback and unspecified. The longest prefix wins")
        ->type_name("CIDR")
        ->delimiter(',')
        ->check(CLI::Validator(checkCidr, "", "prefix"));
    app->add_option("--deny-dest", cli->denyDest,
                    "Refuse destinations in these prefixes (repeat), checked on the resolved "
                    "address. On a tie of lengths --deny-dest beats --allow-dest, which beats "
                    "a default denial")
        ->type_name("CIDR")
        ->delimiter(',')
        ->check(CLI::Validator(checkCidr, "", "prefix"));
    app->add_option("--listen", cli->listen,
                    "Address to listen on: 0.0.0.0:15001, [::]:15001 (dual-stack), "
                    "[2001:db8::1]:80. Repeat to listen on several")
        ->required()
        ->check(CLI::Validator(checkEndpoint, "ADDR:PORT", "endpoint"));
    app->add_option("--events", cli->events,
                    "Write JSON Lines events (accepted, connected, closed, stats) to FILE, "
                    "or - for stdout. A new FILE is created 0600; a symlink, a non-regular "
                    "file, or a file someone else could write is refused. Bytes a client "
                    "sent that are not UTF-8 are escaped (\\xHH), the field named in "
                    "\"escaped\" (docs/events.md)")
        ->type_name("FILE|-")
        ->check(nonEmpty());
    auto* mark = app->add_option("--mark", cli->mark,
                                 "Set SO_MARK on upstream sockets so rules can exempt the proxy's "
                                 "own traffic (needs CAP_NET_ADMIN)")
                     ->check(nonEmpty());
    app->add_flag("--spoof-source", cli->spoofSource,
                  "Full transparency: upstream sockets bind the client's address "
                  "(IP_TRANSPARENT), so the server sees the client; needs the return-path "
                  "rules (tplab rules --spoof-source), --mark for their conntrack zones, and "
                  "CAP_NET_ADMIN");
    app->add_option("--send-proxy", cli->sendProxy,
                    "Start each upstream TCP connection with a PROXY protocol header naming the "
                    "client and the original destination (v1 text, v2 binary), for servers that "
                    "read it (nginx: listen ... proxy_protocol); docs/proxy-protocol.md")
        ->check(CLI::IsMember({"v1", "v2"}));
    app->add_option("--connect-timeout", cli->connectTimeout,
                    "Seconds to wait for the upstream connect; then the client is reset. Explicit "
                    "modes and --upstream: also bounds the handshake and a name lookup")
        ->check(secondsBetween(0.001, 3600))
        ->capture_default_str();
    app->add_option("--idle-timeout", cli->idleTimeout,
                    "Seconds without traffic before both sides are reset; 0 disables")
        ->check(secondsBetween(0.001, 7 * 86400, true))
        ->capture_default_str();
    app->add_option("--max-connections", cli->maxConnections,
                    "Open connections at most, all workers together; past it accept() pauses "
                    "(clients wait in the backlog)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
        ->capture_default_str();
    auto* maxConnections = app->get_option("--max-connections");
    app->add_option("--max-connections-per-client", cli->maxConnectionsPerClient,
                    "Open connections at most per client address (default: 1/8 of "
                    "--max-connections); past it the client's new connection is reset at "
                    "accept with a `refused` event, so one host cannot hold them all")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
    app->add_option("--workers", cli->workers,
                    "Event-loop threads, each with its own SO_REUSEPORT listeners; 0: one per "
                    "online CPU. They count connections together")
        ->check(CLI::Range(0u, 256u))
        ->capture_default_str();
    app->add_option("--splice", cli->splice,
                    "Zero-copy relaying with splice() through pooled pipes: auto (bulk "
                    "transfers only), on, off (always copy)")
        ->check(CLI::IsMember({"auto", "on", "off"}))
        ->capture_default_str();
    app->add_option("--drain-timeout", cli->drainTimeout,
                    "On SIGINT/SIGTERM, seconds to let open connections finish before "
                    "resetting them")
        ->check(secondsBetween(0, 3600))
        ->capture_default_str();
    app->add_flag("--udp", cli->udp,
                  "Also proxy UDP on the same addresses (tproxy and sk-lookup only: "
                  "SO_ORIGINAL_DST does not work for UDP). A session per (client, original "
                  "destination)");
    app->add_option("--udp-idle-timeout", cli->udpIdleTimeout,
                    "Seconds without a datagram before a UDP session is forgotten")
        ->check(secondsBetween(0.001, 86400))
        ->capture_default_str();
    app->add_option("--max-udp-sessions", cli->maxUdpSessions,
                    "UDP sessions at most; past it a new flow closes the least recently used "
                    "session")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
        ->capture_default_str();
    app->add_option("--max-udp-sessions-per-client", cli->maxUdpSessionsPerClient,
                    "UDP sessions at most per client address (default: 1/8 of "
                    "--max-udp-sessions); past it the client's new flow closes its least "
                    "recently used session, so one host cannot lock others out")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
    app->add_option("--socks-user", cli->socksUser,
                    "socks5, http-connect: require this user name (RFC 1929 username/password; "
                    "HTTP Basic for http-connect); needs --socks-password-file")
        ->type_name("NAME")
        ->check(nonEmpty());
    app->add_option("--socks-password-file", cli->socksPasswordFile,
                    "File holding the password for --socks-user on its one line (never on "
                    "the command line, where ps shows it): a regular file of root or this "
                    "user, mode 0600 or stricter, at most 1 MiB, not a symlink. Failed "
                    "attempts are delayed, then locked out (docs/security.md)")
        ->type_name("FILE")
        ->check(nonEmpty());
    app->add_option("--upstream", cli->upstream,
                    "Connect through a next SOCKS5 proxy (no authentication) instead of "
                    "directly: the destination goes into its CONNECT request, as redsocks "
                    "does. An address, not a name: socks5://198.51.100.3:1080, "
                    "socks5://[2001:db8::3]:1080")
        ->type_name("URL")
        ->check(CLI::Validator(checkSocks5Url, "socks5://ADDR:PORT", "socks5 url"));
    app->add_flag("-v,--verbose", cli->verbosity, "Log every connection to stderr");
    app->add_option("--user", cli->user,
                    "Once the listeners are open, become this user (and its primary group, no "
                    "supplementary groups) and keep only the capabilities the options need: "
                    "CAP_NET_ADMIN for --spoof-source, --mark, --udp (plus "
                    "CAP_NET_BIND_SERVICE for --udp), none otherwise. Needs root; see "
                    "docs/proxy.md#privileges")
        ->type_name("NAME")
        ->check(nonEmpty());
    return Command{app, [cli, mark, maxConnections] {
                       return runProxy(*cli, mark->count() > 0, maxConnections->count() > 0);
                   }};
}

}  // namespace tplab
