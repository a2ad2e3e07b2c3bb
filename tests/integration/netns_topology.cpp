// Building and tearing down the three-namespace topology with iproute2.
#include "netns_topology.hpp"

#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <utility>

namespace tplab::test {
namespace {

std::string prefix() {
    return "tpt" + std::to_string(::getpid() % 100000);
}

}  // namespace

const Addresses& addressesFor(Family family) {
    static const Addresses v4{"192.0.2.2", "192.0.2.1", "198.51.100.1", "198.51.100.2"};
    static const Addresses v6{"2001:db8:1::2", "2001:db8:1::1", "2001:db8:2::1", "2001:db8:2::2"};
    return family == Family::Ipv4 ? v4 : v6;
}

std::string urlHost(const std::string& address) {
    return address.find(':') == std::string::npos ? address : "[" + address + "]";
}

std::string withPort(const std::string& address, int port) {
    return urlHost(address) + ":" + std::to_string(port);
}

std::string NetnsTopology::unavailableReason() {
    if (::geteuid() != 0) {
        return "needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network namespaces";
    }
    std::string probe = prefix() + "-probe";
    auto made = runShell("ip netns add " + probe);
    runShell("ip netns del " + probe);
    if (made.exitCode != 0) {
        return "cannot create a network namespace: " + made.output;
    }
    return "";
}

NetnsTopology::NetnsTopology()
    : client_(prefix() + "-client"), gateway_(prefix() + "-gw"), server_(prefix() + "-server") {
    for (const auto& ns : {client_, gateway_, server_}) {
        runShell("ip netns del " + ns);  // left over from an interrupted run
        auto made = runShell("ip netns add " + ns);
        if (made.exitCode != 0) {
            throw std::runtime_error("ip netns add " + ns + ": " + made.output);
        }
        created_.push_back(ns);
        mustExec(ns, "ip link set lo up");
        // No duplicate address detection: link-local addresses would stay tentative for about
        // a second, and the first IPv6 connection would wait for neighbour discovery.
        mustExec(ns,
                 "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
    }
    mustExec(gateway_, "ip link add veth-c type veth peer name eth0 netns " + client_);
    mustExec(gateway_, "ip link add veth-s type veth peer name eth0 netns " + server_);
    struct Side {
        std::string ns, device;
        std::string v4, v6;
    };
    for (const Side& side : {Side{client_, "eth0", "192.0.2.2/24", "2001:db8:1::2/64"},
                             Side{gateway_, "veth-c", "192.0.2.1/24", "2001:db8:1::1/64"},
                             Side{gateway_, "veth-s", "198.51.100.1/24", "2001:db8:2::1/64"},
                             Side{server_, "eth0", "198.51.100.2/24", "2001:db8:2::2/64"}}) {
        mustExec(side.ns, "ip addr add " + side.v4 + " dev " + side.device);
        mustExec(side.ns, "ip addr add " + side.v6 + " dev " + side.device + " nodad");
        mustExec(side.ns, "ip link set " + side.device + " up");
    }
    mustExec(client_, "ip route add default via 192.0.2.1");
    mustExec(client_, "ip -6 route add default via 2001:db8:1::1");
    mustExec(server_, "ip route add default via 198.51.100.1");
    mustExec(server_, "ip -6 route add default via 2001:db8:2::1");
    mustExec(gateway_, "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1");
    // A veth drops what it is given until the kernel's link watcher has attached its queueing
    // discipline ("qdisc noop" until then), up to a second after `ip link set up` and later on
    // a loaded machine. The first IPv6 neighbour solicitation is lost with it, and the first
    // connection waits a second for the retry. So wait until every device is really up.
    for (const auto& [ns, device] : {std::pair{client_, "eth0"}, std::pair{gateway_, "veth-c"},
                                     std::pair{gateway_, "veth-s"}, std::pair{server_, "eth0"}}) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        for (;;) {
            auto link = exec(ns, std::string("ip -o link show dev ") + device);
            if (link.output.find("state UP") != std::string::npos &&
                link.output.find("qdisc noop") == std::string::npos) {
                break;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error(ns + ": " + device + " not up within 5 s: " + link.output);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
}

NetnsTopology::~NetnsTopology() {
    for (const auto& ns : created_) {
        runShell("ip netns pids " + ns + " | xargs -r kill -9");
        runShell("ip netns del " + ns);
    }
}

CommandResult NetnsTopology::exec(const std::string& ns, const std::string& command) const {
    std::string quoted;
    for (char c : command) {
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return runShell("ip netns exec " + ns + " sh -c '" + quoted + "'");
}

void NetnsTopology::mustExec(const std::string& ns, const std::string& command) const {
    auto result = exec(ns, command);
    if (result.exitCode != 0) {
        throw std::runtime_error("[" + ns + "] " + command + ": " + result.output);
    }
}

Process NetnsTopology::spawn(const std::string& ns, std::vector<std::string> argv,
                             const std::string& log) const {
    argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
    return Process(argv, log);
}

bool NetnsTopology::waitListening(const std::string& ns, int port, bool udp,
                                  std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string query =
        std::string("ss -Hn ") + (udp ? "-lu" : "-lt") + " sport = :" + std::to_string(port);
    while (std::chrono::steady_clock::now() < deadline) {
        auto result = exec(ns, query);
        if (result.exitCode == 0 && !result.output.empty()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

}  // namespace tplab::test
