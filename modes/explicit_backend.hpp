// Explicit proxies: the client is configured with the proxy's address and names the
// destination in the protocol (SOCKS5, HTTP CONNECT). No rule, no kernel lookup: a plain
// listener and a negotiation per connection.
#pragma once

#include <optional>

#include "backend.hpp"
#include "socket_ops.hpp"
#include "socks5_protocol.hpp"

namespace tplab {

class ExplicitBackend : public Backend {
  public:
    ExplicitBackend(SocketApi& api, std::optional<Socks5Credentials> credentials)
        : api_(api), credentials_(std::move(credentials)) {}

    Fd openListener(const Endpoint& address, const ListenerOptions& options) override;
    // Not called: the session negotiates instead (clientHandshake()).
    DestinationLookup recoverDestination(int acceptedFd, const Endpoint& client,
                                         const Endpoint& local) override;
    Fd openDatagramListener(const Endpoint& address, const ListenerOptions& options) override;
    std::optional<Endpoint> datagramDestination(const msghdr& message) override;

  protected:
    SocketApi& api_;
    std::optional<Socks5Credentials> credentials_;
};

class Socks5Backend final : public ExplicitBackend {
  public:
    using ExplicitBackend::ExplicitBackend;
    [[nodiscard]] std::string_view name() const override { return "socks5"; }
    [[nodiscard]] std::string_view requestSource() const override { return "SOCKS5 request"; }
    std::unique_ptr<ClientHandshake> clientHandshake() override {
        return std::make_unique<Socks5ServerHandshake>(credentials_);
    }
};

class HttpConnectBackend final : public ExplicitBackend {
  public:
    using ExplicitBackend::ExplicitBackend;
    [[nodiscard]] std::string_view name() const override { return "http-connect"; }
    [[nodiscard]] std::string_view requestSource() const override { return "HTTP CONNECT request"; }
    std::unique_ptr<ClientHandshake> clientHandshake() override;
};

}  // namespace tplab
