// Test support: the topology plus a server (python http.server on 80, a socat echo on 7000),
// the interception rules for one mode in the gateway, and `tplab proxy` running there.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "netns_topology.hpp"
#include "process.hpp"

namespace tplab::test {

inline constexpr int kHttpPort = 80;
inline constexpr int kEchoPort = 7000;
inline constexpr int kClosedPort = 81;  // intercepted, but nothing listens behind it
inline constexpr int kLoadPort = 9000;  // intercepted; the reliability tests' load_peer.py
inline constexpr int kRedirectPort = 15001;
inline constexpr int kTproxyPort = 15002;
inline constexpr int kExplicitPort = 1080;  // socks5 and http-connect: no rules, [::]:1080
inline constexpr int kInterceptedPorts[] = {kHttpPort, kEchoPort, kClosedPort, kLoadPort};

// How the proxy is started: a command in front of it (prlimit ...) and extra arguments.
struct ProxyLaunch {
    std::vector<std::string> prefix;
    std::vector<std::string> extraArgs;
};

class GatewayLab {
  public:
    // mode: "redirect" or "tproxy"; "anyip" (policy routing only, served by the tproxy backend
    // listening on every intercepted port); "sk-lookup" (the same routing, and the proxy's BPF
    // program steering to one dual-stack listener); "socks5" or "http-connect" (explicit: no
    // rules). With
    // spoofSource the proxy binds the client's address upstream (with --mark 2) and the gateway
    // gets the return-path rule and a conntrack zone for the upstream leg. A --drain-timeout among
    // launch.extraArgs replaces the default of 1. Throws std::runtime_error naming a
    // failed setup step.
    GatewayLab(const std::string& mode, Family family, bool spoofSource = false,
               ProxyLaunch launch = {});
    ~GatewayLab();

    NetnsTopology& net() { return *net_; }
    const Addresses& addresses() const { return addressesFor(family_); }
    const std::string& workdir() const { return workdir_; }
    std::string blobPath() const { return workdir_ + "/www/blob.bin"; }
    int proxyPort() const {
        return mode_ == "redirect"                         ? kRedirectPort
               : mode_ == "tproxy" || mode_ == "sk-lookup" ? kTproxyPort
               : mode_ == "anyip" ? kHttpPort  // it listens on every intercepted port
                                  : kExplicitPort;
    }

    // The proxy's events so far, optionally only one type; waits up to 5 s for `atLeast`.
    std::vector<nlohmann::json> events(const std::string& type, std::size_t atLeast = 0) const;
    std::string proxyLog() const;
    std::string httpServerLog() const;
    Process& proxy() { return proxy_; }
    std::string sha256(const std::string& path) const;

  private:
    void startServers();
    void applyRules();
    void startProxy();

    std::string mode_;
    Family family_;
    bool spoofSource_;
    ProxyLaunch launch_;
    std::string workdir_;
    std::unique_ptr<NetnsTopology> net_;
    Process httpServer_;
    Process echoServer_;
    Process proxy_;
};

// Writes PASSWORD to DIR/password, mode 0600 (tplab proxy refuses a password file open to others),
// and returns the path.
std::string writePasswordFile(const std::string& dir, const std::string& password);

}  // namespace tplab::test
