// SOCKS5 (RFC 1928) and its username/password method (RFC 1929) as byte parsers with no I/O:
// the server side tplab speaks in --mode socks5, and the client side it speaks to a next proxy
// with --upstream socks5://. Both take the bytes received so far and say what to do next.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "backend.hpp"
#include "endpoint.hpp"

namespace tplab {

namespace socks5 {
inline constexpr std::uint8_t kVersion = 0x05;
inline constexpr std::uint8_t kMethodNoAuth = 0x00;
inline constexpr std::uint8_t kMethodUserPass = 0x02;
inline constexpr std::uint8_t kNoAcceptableMethod = 0xff;
inline constexpr std::uint8_t kCmdConnect = 0x01;
inline constexpr std::uint8_t kAtypIpv4 = 0x01;
inline constexpr std::uint8_t kAtypDomain = 0x03;
inline constexpr std::uint8_t kAtypIpv6 = 0x04;

// REP codes of RFC 1928 section 6.
enum class Reply : std::uint8_t {
    Succeeded = 0x00,
    GeneralFailure = 0x01,
    NotAllowed = 0x02,
    NetworkUnreachable = 0x03,
    HostUnreachable = 0x04,
    ConnectionRefused = 0x05,
    TtlExpired = 0x06,
    CommandNotSupported = 0x07,
    AddressTypeNotSupported = 0x08,
};

// "connection refused", "address type not supported", or "unassigned 0x2a".
std::string replyText(std::uint8_t code);
Reply replyFor(ConnectOutcome outcome);
// VER REP RSV ATYP BND.ADDR BND.PORT; an unspecified `bound` gives 0.0.0.0:0.
std::string encodeReply(Reply code, const Endpoint& bound);
// VER CMD=CONNECT RSV ATYP DST.ADDR DST.PORT for an address.
std::string encodeConnect(const Endpoint& destination);
}  // namespace socks5

struct Socks5Credentials {
    std::string user;
    std::string password;
};

// Compares two secrets without stopping at the first difference, so the time taken does not
// tell how much of a guess matched (RFC 1929 and HTTP Basic alike).
bool sameSecret(std::string_view a, std::string_view b);

// tplab as a SOCKS5 server: greeting, [RFC 1929 authentication], CONNECT request.
class Socks5ServerHandshake final : public ClientHandshake {
  public:
    // With credentials, only username/password is accepted; without, only "no authentication".
    explicit Socks5ServerHandshake(std::optional<Socks5Credentials> credentials)
        : credentials_(std::move(credentials)) {}

    // The longest message: an authentication request, 3 + 255 + 255 bytes.
    [[nodiscard]] std::size_t maxMessage() const override { return 513; }
    HandshakeStep onClientBytes(std::string_view bytes) override;
    [[nodiscard]] HandshakeStep refuseAuthentication(const HandshakeStep& accepted,
                                                     const std::string& why) const override;
    [[nodiscard]] std::string connectReply(ConnectOutcome outcome,
                                           const Endpoint& bound) const override;

  private:
    enum class State { Greeting, Authentication, Request, Answered };
    HandshakeStep greeting(std::string_view bytes);
    HandshakeStep authentication(std::string_view bytes);
    HandshakeStep request(std::string_view bytes);

    std::optional<Socks5Credentials> credentials_;
    State state_ = State::Greeting;
};

// tplab as a SOCKS5 client of a next proxy: no authentication, CONNECT to an address.
class Socks5ClientHandshake final : public UpstreamHandshake {
  public:
    explicit Socks5ClientHandshake(const Endpoint& destination) : destination_(destination) {}
    std::string greeting() override;
    HandshakeStep onServerBytes(std::string_view bytes) override;

  private:
    Endpoint destination_;
    bool methodChosen_ = false;
};

// --upstream socks5://HOST:PORT
class Socks5Upstream final : public UpstreamProxy {
  public:
    explicit Socks5Upstream(const Endpoint& server) : server_(server) {}
    [[nodiscard]] const Endpoint& server() const override { return server_; }
    [[nodiscard]] std::unique_ptr<UpstreamHandshake> start(
        const Endpoint& destination) const override {
        return std::make_unique<Socks5ClientHandshake>(destination);
    }

  private:
    Endpoint server_;
};

// "socks5://198.51.100.3:1080" or "socks5://[2001:db8::3]:1080" -> the endpoint. Throws
// std::invalid_argument naming what is wrong (another scheme, a name, a missing port).
Endpoint parseSocks5Url(std::string_view url);

}  // namespace tplab
