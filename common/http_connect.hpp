// HTTP CONNECT (RFC 9110 section 9.3.6) as a byte parser with no I/O: the request line and
// headers up to the blank line, optional Basic proxy authentication, and the status replies.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "backend.hpp"
#include "socks5_protocol.hpp"

namespace tplab {

class HttpConnectHandshake final : public ClientHandshake {
  public:
    explicit HttpConnectHandshake(std::optional<Socks5Credentials> credentials)
        : credentials_(std::move(credentials)) {}

    // Request line and headers together; longer is answered 431.
    [[nodiscard]] std::size_t maxMessage() const override { return 8192; }
    HandshakeStep onClientBytes(std::string_view bytes) override;
    [[nodiscard]] HandshakeStep refuseAuthentication(const HandshakeStep& accepted,
                                                     const std::string& why) const override;
    [[nodiscard]] std::string connectReply(ConnectOutcome outcome,
                                           const Endpoint& bound) const override;

  private:
    // Nothing when the Proxy-Authorization header holds the credentials, else the refusal.
    [[nodiscard]] std::optional<HandshakeStep> checkAuthorization(std::string_view headers) const;
    static HandshakeStep refusal(std::string failure, HandshakeStep::Auth auth);

    std::optional<Socks5Credentials> credentials_;
};

// "host:port", "[2001:db8::2]:443", "198.51.100.2:80" -> a request; nullopt when malformed.
std::optional<ProxyRequest> parseAuthority(std::string_view authority);
// RFC 4648 base64, canonical form only (padded to groups of four, zero pad bits); nullopt
// otherwise.
std::optional<std::string> decodeBase64(std::string_view text);

}  // namespace tplab
