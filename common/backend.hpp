// The interface between the relay core and an interception mode (modes/).
// A backend differs from another exactly where the kernel differs: how the listener is opened
// and how the client's original destination is recovered. An explicit proxy (SOCKS5, HTTP
// CONNECT) learns the destination from the client instead, in an optional negotiation phase.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "endpoint.hpp"
#include "fd.hpp"

namespace tplab {

struct ListenerOptions {
    // For an IPv6 wildcard listener: refuse IPv4-mapped peers because another listener takes IPv4.
    bool ipv6Only = false;
    // SO_REUSEPORT: each worker has its own listener on the same address; the kernel spreads
    // new connections (and UDP flows, by their 4-tuple) across them.
    bool reusePort = false;
    int backlog = 4096;
};

struct DestinationLookup {
    std::optional<Endpoint> destination;  // empty when the lookup failed
    std::string_view method;     // the call that answered: "SO_ORIGINAL_DST", "getsockname", ...
    bool notRedirected = false;  // the kernel says this connection was never intercepted
    std::string failure;         // the failed call, its arguments and errno text
};

// What the client asked an explicit proxy for: an address, or a name to resolve first.
struct ProxyRequest {
    std::optional<Endpoint> address;
    std::string host;  // set instead of `address` when the client sent a name
    std::uint16_t port = 0;
};

// One step of a negotiation over bytes that arrive in pieces.
struct HandshakeStep {
    enum class Status {
        NeedMore,  // the message is incomplete: wait for more bytes
        Reply,     // send `reply`, then parse on (a method choice, an auth answer)
        Done,      // negotiation over: `request` (client side) is where to connect
        Fail,      // send `reply` (may be empty), then close; `failure` says why
    };
    Status status = Status::NeedMore;
    std::size_t consumed = 0;  // bytes of the input this step used up
    // The step decided a username/password check (Reply/Done: right, Fail: wrong), so the
    // session can count failures per client (AuthThrottle).
    enum class Auth { None, Accepted, Refused };
    Auth auth = Auth::None;
    std::string reply;
    ProxyRequest request;
    std::string failure;
};

// How an upstream connect ended, in the words an explicit-proxy protocol has for it.
enum class ConnectOutcome {
    Succeeded,
    Failed,              // anything else
    NotAllowed,          // the loop guard or the access policy refused the destination
    NetworkUnreachable,  // ENETUNREACH
    HostUnreachable,     // EHOSTUNREACH, or a name that does not resolve
    Refused,             // ECONNREFUSED
    TimedOut,            // --connect-timeout ran out
};

// The client side of an explicit proxy's negotiation, one per connection: it reads before
// the upstream connect and answers after it.
class ClientHandshake {
  public:
    virtual ~ClientHandshake() = default;
    // More unconsumed bytes than this without a complete message is a malformed client.
    [[nodiscard]] virtual std::size_t maxMessage() const = 0;
    // Parses the bytes the client sent that no step has consumed yet.
    virtual HandshakeStep onClientBytes(std::string_view bytes) = 0;
    // Turns a step with Auth::Accepted into the refusal a wrong password gets (a locked-out
    // client is told nothing new); `why` goes into the failure, not to the client.
    [[nodiscard]] virtual HandshakeStep refuseAuthentication(const HandshakeStep& accepted,
                                                             const std::string& why) const = 0;
    // The answer once the upstream connect ended; `bound` is the upstream socket's own address.
    [[nodiscard]] virtual std::string connectReply(ConnectOutcome outcome,
                                                   const Endpoint& bound) const = 0;
};

// The upstream side of a negotiation (transparent in, SOCKS5 out), one per connection.
class UpstreamHandshake {
  public:
    virtual ~UpstreamHandshake() = default;
    // Bytes to send as soon as the TCP connect to the next proxy succeeded.
    virtual std::string greeting() = 0;
    // Parses what the next proxy answered; Done means the tunnel to the destination is open.
    virtual HandshakeStep onServerBytes(std::string_view bytes) = 0;
};

// Where and how to reach the next proxy; shared by the sessions of all workers.
class UpstreamProxy {
  public:
    virtual ~UpstreamProxy() = default;
    [[nodiscard]] virtual const Endpoint& server() const = 0;
    [[nodiscard]] virtual std::unique_ptr<UpstreamHandshake> start(
        const Endpoint& destination) const = 0;
};

class Backend {
  public:
    virtual ~Backend() = default;

    // The mode's name as events and logs show it.
    [[nodiscard]] virtual std::string_view name() const = 0;

    // Opens a non-blocking listening socket the way this mode needs; throws std::system_error
    // naming the failed call and its arguments.
    virtual Fd openListener(const Endpoint& address, const ListenerOptions& options) = 0;

    // Where did the client mean to go? `local` is getsockname() of the accepted socket.
    virtual DestinationLookup recoverDestination(int acceptedFd, const Endpoint& client,
                                                 const Endpoint& local) = 0;

    // UDP: opens a non-blocking datagram socket that learns each datagram's original
    // destination. Throws std::invalid_argument, with the reason, when the mode cannot proxy
    // UDP; std::system_error for a failed call.
    virtual Fd openDatagramListener(const Endpoint& address, const ListenerOptions& options) = 0;

    // The original destination of a datagram received on that socket (from recvmsg's control
    // messages), or nothing when the kernel did not say.
    virtual std::optional<Endpoint> datagramDestination(const msghdr& message) = 0;

    // Explicit proxies: a negotiation for each new connection, which then replaces
    // recoverDestination(). Transparent modes have none (one virtual call per accept).
    virtual std::unique_ptr<ClientHandshake> clientHandshake() { return nullptr; }
    // How events name where such a destination came from ("SOCKS5 request").
    [[nodiscard]] virtual std::string_view requestSource() const { return ""; }
};

}  // namespace tplab
