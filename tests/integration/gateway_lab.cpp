// The server side, the rules of each mode, and the proxy, for the integration tests.
#include "gateway_lab.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tplab::test {

GatewayLab::GatewayLab(const std::string& mode, Family family, bool spoofSource, ProxyLaunch launch)
    : mode_(mode), family_(family), spoofSource_(spoofSource), launch_(std::move(launch)) {
    char dir[] = "/tmp/tplab-it-XXXXXX";
    if (::mkdtemp(dir) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    workdir_ = dir;
    net_ = std::make_unique<NetnsTopology>();
    startServers();
    applyRules();
    startProxy();
}

GatewayLab::~GatewayLab() {
    proxy_.stop();
    echoServer_.stop();
    httpServer_.stop();
    net_.reset();
    runShell("rm -rf " + workdir_);
}

void GatewayLab::startServers() {
    runShell("mkdir -p " + workdir_ + "/www && head -c 4194304 /dev/urandom > " + blobPath() +
             " && echo 'served by server' > " + workdir_ + "/www/index.html");
    httpServer_ = net_->spawn(net_->server(),
                              {"python3", "-m", "http.server", "--bind", "::", "--directory",
                               workdir_ + "/www", std::to_string(kHttpPort)},
                              workdir_ + "/http-server.log");
    echoServer_ = net_->spawn(
        net_->server(),
        {"socat", "TCP-LISTEN:" + std::to_string(kEchoPort) + ",pf=ip6,ipv6only=0,fork,reuseaddr",
         "EXEC:cat"},
        workdir_ + "/echo-server.log");
    if (!net_->waitListening(net_->server(), kHttpPort) ||
        !net_->waitListening(net_->server(), kEchoPort)) {
        throw std::runtime_error("servers did not start listening");
    }
}

void GatewayLab::applyRules() {
    if (mode_ == "socks5" || mode_ == "http-connect") {
        return;  // the client is configured with the proxy's address
    }
    const std::string iptables = family_ == Family::Ipv4 ? "iptables" : "ip6tables";
    const std::string ip = family_ == Family::Ipv4 ? "ip -4" : "ip -6";
    const std::string everything = family_ == Family::Ipv4 ? "0.0.0.0/0" : "::/0";
    std::string ports;
    for (int port : kInterceptedPorts) {
        ports += (ports.empty() ? "" : ",") + std::to_string(port);
    }
    const std::string& gw = net_->gateway();
    if (mode_ == "anyip" || mode_ == "sk-lookup") {
        // Policy routing only: connections from the client to the intercepted ports look up a
        // table that calls every address local. No netfilter rule at all (docs/anyip.md); for
        // sk-lookup the proxy's BPF program then picks its listener (docs/sk-lookup.md).
        for (int port : kInterceptedPorts) {
            net_->mustExec(gw, ip + " rule add iif veth-c ipproto tcp dport " +
                                   std::to_string(port) + " lookup 100");
        }
        net_->mustExec(gw, ip + " route add local " + everything + " dev lo table 100");
        return;
    }
    if (mode_ == "tproxy" || spoofSource_) {
        net_->mustExec(gw, ip + " rule add fwmark 0x1/0x1 lookup 100");
        net_->mustExec(gw, ip + " route add local " + everything + " dev lo table 100");
    }
    if (spoofSource_) {
        // The server answers the client's address: deliver that to our transparent socket.
        net_->mustExec(gw, iptables +
                               " -t mangle -A PREROUTING -i veth-s -p tcp -m socket --transparent"
                               " -j MARK --set-mark 0x1/0x1");
        // The upstream leg (the proxy marks it 2) in a conntrack zone of its own, so that an
        // upstream and a client flow sharing a 4-tuple are two entries, not one
        // (docs/full-transparency.md, "Port collisions").
        net_->mustExec(
            gw, iptables + " -t raw -A OUTPUT -p tcp -m mark --mark 0x2/0x2" + " -j CT --zone 1");
        net_->mustExec(gw, iptables + " -t raw -A PREROUTING -i veth-s -p tcp -m socket" +
                               " --transparent -j CT --zone 1");
    }
    if (mode_ == "redirect") {
        net_->mustExec(gw, iptables +
                               " -t nat -A PREROUTING -i veth-c -p tcp -m multiport --dports " +
                               ports + " -j REDIRECT --to-ports " + std::to_string(kRedirectPort));
    } else {
        net_->mustExec(gw, iptables +
                               " -t mangle -A PREROUTING -i veth-c -p tcp -m multiport --dports " +
                               ports + " -j TPROXY --on-port " + std::to_string(kTproxyPort) +
                               " --tproxy-mark 0x1/0x1");
    }
}

void GatewayLab::startProxy() {
    std::vector<std::string> argv = launch_.prefix;
    // AnyIP has no proxy mode of its own: the tproxy backend's IP_TRANSPARENT listeners serve it.
    const std::string proxyMode = mode_ == "anyip" ? "tproxy" : mode_;
    argv.insert(argv.end(), {TPLAB_BINARY, "proxy", "--mode", proxyMode, "--events",
                             workdir_ + "/events.jsonl", "-v"});
    const auto& extra = launch_.extraArgs;
    if (std::find(extra.begin(), extra.end(), "--drain-timeout") == extra.end()) {
        argv.insert(argv.end(), {"--drain-timeout", "1"});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    if (mode_ == "sk-lookup") {
        for (int port : kInterceptedPorts) {
            argv.insert(argv.end(), {"--dport", std::to_string(port)});
        }
    }
    if (spoofSource_) {
        argv.push_back("--spoof-source");
        if (std::find(extra.begin(), extra.end(), "--mark") == extra.end()) {
            argv.insert(argv.end(), {"--mark", "2"});  // as docs/full-transparency.md advises
        }
    }
    if (mode_ == "anyip") {
        // No port is rewritten: the proxy listens on every intercepted port itself.
        for (int port : kInterceptedPorts) {
            argv.insert(argv.end(), {"--listen", "0.0.0.0:" + std::to_string(port), "--listen",
                                     "[::]:" + std::to_string(port)});
        }
    } else if (mode_ == "redirect" || mode_ == "sk-lookup" || proxyPort() == kExplicitPort) {
        argv.insert(argv.end(), {"--listen", "[::]:" + std::to_string(proxyPort())});
    } else {
        argv.insert(argv.end(), {"--listen", "0.0.0.0:" + std::to_string(kTproxyPort), "--listen",
                                 "[::]:" + std::to_string(kTproxyPort)});
    }
    proxy_ = net_->spawn(net_->gateway(), argv, workdir_ + "/proxy.log");
    if (!net_->waitListening(net_->gateway(), proxyPort())) {
        throw std::runtime_error("tplab proxy did not start: " + proxyLog());
    }
}

std::vector<nlohmann::json> GatewayLab::events(const std::string& type, std::size_t atLeast) const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (true) {
        std::vector<nlohmann::json> found;
        std::ifstream in(workdir_ + "/events.jsonl");
        for (std::string line; std::getline(in, line);) {
            auto event = nlohmann::json::parse(line, nullptr, false);
            if (!event.is_discarded() && (type.empty() || event["event"] == type)) {
                found.push_back(event);
            }
        }
        if (found.size() >= atLeast || std::chrono::steady_clock::now() > deadline) {
            return found;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::string GatewayLab::proxyLog() const {
    std::ifstream in(workdir_ + "/proxy.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string GatewayLab::httpServerLog() const {
    return runShell("cat " + workdir_ + "/http-server.log").output;
}

std::string GatewayLab::sha256(const std::string& path) const {
    auto result = runShell("sha256sum " + path);
    return result.output.substr(0, 64);
}

std::string writePasswordFile(const std::string& dir, const std::string& password) {
    std::string path = dir + "/password";
    std::ofstream(path) << password << "\n";
    ::chmod(path.c_str(), 0600);
    return path;
}

}  // namespace tplab::test
