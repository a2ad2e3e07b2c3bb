// `tplab proxy`: run the transparent proxy in redirect or tproxy mode.
#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "command.hpp"
#include "events_json.hpp"
#include "log.hpp"
#include "make_backend.hpp"
#include "proxy_server.hpp"
#include "signal_watcher.hpp"

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
    double drainTimeout = 10;
    int verbosity = 0;
};

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

int runProxy(const ProxyCommandOptions& cli, bool markGiven) {
    log::setLevel(cli.verbosity >= 1 ? log::Level::Debug : log::Level::Info);

    ProxyOptions options;
    for (const auto& text : cli.listen) {
        options.listen.push_back(Endpoint::parse(text));
    }
    if (markGiven) {
        options.session.mark = cli.mark;
    }
    options.session.spoofSource = cli.spoofSource;
    options.session.connectTimeout = seconds(cli.connectTimeout);
    options.session.idleTimeout = seconds(cli.idleTimeout);
    options.maxConnections = cli.maxConnections;
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
        udp.mark = options.session.mark;
        udp.spoofSource = cli.spoofSource;
        options.udp = udp;
    }

    SocketApi api;
    auto backend = makeBackend(cli.mode, api);
    if (!backend) {
        throw UsageError("unknown mode '" + cli.mode + "'");
    }
    EventSink events = cli.events.empty() ? EventSink() : EventSink(cli.events);
    EventLoop loop;
    ProxyServer server(loop, *backend, events, std::move(options));
    SignalWatcher signals(loop, [&](int signal) {
        if (signal == SIGUSR1) {
            server.writeStats("SIGUSR1");
        } else {
            server.beginDrain();
        }
    });
    server.start();
    loop.run();
    server.writeStats("exit");
    const auto& stats = server.stats();
    log::info("stopped after " + std::to_string(stats.accepted) + " connection(s)");
    return 0;
}

}  // namespace

Command setupProxyCommand(CLI::App& parent) {
    auto cli = std::make_shared<ProxyCommandOptions>();
    CLI::App* app = parent.add_subcommand(
        "proxy",
        "Run the transparent proxy. redirect mode: for nat REDIRECT/DNAT rules, recovers the\n"
        "destination with getsockopt(SO_ORIGINAL_DST). tproxy mode: for mangle TPROXY rules,\n"
        "listens with IP_TRANSPARENT and takes the destination from getsockname().\n"
        "See docs/redirect.md, docs/tproxy.md; events: docs/events.md.");
    app->add_option("--mode", cli->mode, "Interception mode: redirect or tproxy")
        ->required()
        ->check(CLI::IsMember({"redirect", "tproxy"}));
    app->add_option("--listen", cli->listen,
                    "Address to listen on: 0.0.0.0:15001, [::]:15001 (dual-stack), "
                    "[2001:db8::1]:80. Repeat to listen on several")
        ->required()
        ->check(CLI::Validator(checkEndpoint, "ADDR:PORT", "endpoint"));
    app->add_option("--events", cli->events,
                    "Write JSON Lines events (accepted, connected, closed, stats) to FILE, "
                    "or - for stdout")
        ->type_name("FILE|-");
    auto* mark = app->add_option("--mark", cli->mark,
                                 "Set SO_MARK on upstream sockets so rules can exempt the proxy's "
                                 "own traffic (needs CAP_NET_ADMIN)");
    app->add_flag("--spoof-source", cli->spoofSource,
                  "Full transparency: upstream sockets bind the client's address "
                  "(IP_TRANSPARENT), so the server sees the client; needs the return-path "
                  "rules of docs/full-transparency.md and CAP_NET_ADMIN");
    app->add_option("--connect-timeout", cli->connectTimeout,
                    "Seconds to wait for the upstream connect; then the client is reset")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app->add_option("--idle-timeout", cli->idleTimeout,
                    "Seconds without traffic before both sides are reset; 0 disables")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    app->add_option("--max-connections", cli->maxConnections,
                    "Open connections at most; past it accept() pauses (clients wait in the "
                    "backlog)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
        ->capture_default_str();
    app->add_option("--drain-timeout", cli->drainTimeout,
                    "On SIGINT/SIGTERM, seconds to let open connections finish before "
                    "resetting them")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    app->add_flag("--udp", cli->udp,
                  "Also proxy UDP on the same addresses (tproxy mode only: SO_ORIGINAL_DST does "
                  "not work for UDP). A session per (client, original destination)");
    app->add_option("--udp-idle-timeout", cli->udpIdleTimeout,
                    "Seconds without a datagram before a UDP session is forgotten")
        ->check(CLI::PositiveNumber)
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
    app->add_flag("-v,--verbose", cli->verbosity, "Log every connection to stderr");
    return Command{app, [cli, mark] { return runProxy(*cli, mark->count() > 0); }};
}

}  // namespace tplab
