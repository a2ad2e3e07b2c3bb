// Test support: a client–gateway–server topology in fresh network namespaces, removed with the
// object. Documentation addresses only; nothing leaves the namespaces.
//
//   client (eth0)  ----  (veth-c) gateway (veth-s)  ----  (eth0) server
//   192.0.2.2            192.0.2.1      198.51.100.1       198.51.100.2
//   2001:db8:1::2        2001:db8:1::1  2001:db8:2::1      2001:db8:2::2
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "process.hpp"

namespace tplab::test {

enum class Family { Ipv4, Ipv6 };

struct Addresses {
    std::string client;
    std::string gatewayClientSide;
    std::string gatewayServerSide;
    std::string server;
};

const Addresses& addressesFor(Family family);
// "198.51.100.2" -> "198.51.100.2:80", "2001:db8:2::2" -> "[2001:db8:2::2]:80"
std::string withPort(const std::string& address, int port);
std::string urlHost(const std::string& address);

class NetnsTopology {
  public:
    NetnsTopology();  // throws std::runtime_error with the failing command
    ~NetnsTopology();
    NetnsTopology(const NetnsTopology&) = delete;
    NetnsTopology& operator=(const NetnsTopology&) = delete;

    // Why namespaces cannot be made here, or "" when they can.
    static std::string unavailableReason();

    [[nodiscard]] const std::string& client() const { return client_; }
    [[nodiscard]] const std::string& gateway() const { return gateway_; }
    [[nodiscard]] const std::string& server() const { return server_; }

    CommandResult exec(const std::string& ns, const std::string& command) const;
    // Like exec, but throws when the command fails: for setup steps.
    void mustExec(const std::string& ns, const std::string& command) const;
    Process spawn(const std::string& ns, std::vector<std::string> argv,
                  const std::string& log) const;
    // Polls `ss` until something listens on the port (tcp or udp); false after `timeout`.
    bool waitListening(const std::string& ns, int port, bool udp = false,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

  private:
    std::vector<std::string> created_;
    std::string client_;
    std::string gateway_;
    std::string server_;
};

}  // namespace tplab::test
