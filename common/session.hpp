// One proxied TCP connection: recover the destination (or, for an explicit proxy, negotiate
// it with the client), guard against loops, connect upstream (negotiating with a next proxy
// when there is one), then relay. Reports each step as an event. Compact on purpose (a few hundred
// bytes): its lists are intrusive, its timeouts are checked by the server's sweep, not by a timer
// each.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "access_policy.hpp"
#include "auth_throttle.hpp"
#include "backend.hpp"
#include "close_reason.hpp"
#include "event_loop.hpp"
#include "events_json.hpp"
#include "intrusive_list.hpp"
#include "loop_guard.hpp"
#include "proxy_protocol.hpp"
#include "relay.hpp"
#include "upstream_socket.hpp"

namespace tplab {

struct SessionSettings {
    UpstreamOptions upstream;
    Clock::duration connectTimeout = std::chrono::seconds(5);
    Clock::duration idleTimeout = std::chrono::seconds(300);  // zero: never
    // --upstream socks5://: connect there and ask it for the destination; null: connect direct.
    std::shared_ptr<const UpstreamProxy> upstreamProxy;
    // --send-proxy: the upstream connection starts with this PROXY protocol header.
    std::optional<ProxyProtocolVersion> sendProxy;
    // --allow-client, --allow-dest, --deny-dest and the default denials; null: no checks.
    std::shared_ptr<const AccessPolicy> access;
};

class SessionHost;

class Session final : private RelayObserver {
  public:
    Session(SessionHost& host, std::uint64_t id, const Endpoint& client, const Endpoint& listener);
    ~Session() override;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void start(Fd client);
    // Ends the session now, resetting both sides (idle timeout, drain deadline).
    void abort(CloseReason reason);
    // The server's sweep found the connect older than --connect-timeout.
    void connectTimedOut();
    // The process had no fd for the upstream socket; the server retries once it may have one.
    void retryUpstream();
    // Something on this connection's path threw: ends this connection (both sides reset, a
    // `closed` event with reason proxy_error and the exception's text), not the worker.
    void fail(const std::exception& error);

    [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
    [[nodiscard]] const Endpoint& client() const noexcept { return client_; }
    [[nodiscard]] bool relaying() const noexcept { return relaying_; }
    [[nodiscard]] bool awaitingFd() const noexcept { return awaitingFd_; }
    [[nodiscard]] Clock::time_point lastActivity() const noexcept { return relay_.lastActivity(); }
    [[nodiscard]] Clock::time_point connectStarted() const noexcept { return connectStarted_; }

    ListHook allHook;         // the server's open sessions
    ListHook connectingHook;  // the server's connects in flight, oldest first

  private:
    // The sockets and state of a negotiation phase; absent for the transparent modes.
    struct Negotiation;

    void onUpstreamConnect(int error) override;
    void onRelayDone(RelayEnd end, int error) override;
    void onRelayFailure(const std::exception& error) override { fail(error); }
    void connectUpstream();
    void openUpstream();
    void connectFailed(int error);
    void admitDestination();
    [[nodiscard]] const Endpoint& connectTarget() const noexcept;
    void clientHandshakeEvents(std::uint32_t events);
    void readClientHandshake(std::uint32_t events);
    bool throttleAuthentication(HandshakeStep& step);
    void failHandshake(const HandshakeStep& step);
    void lookupEvents(std::uint32_t events);
    void requestReceived(ProxyRequest request);
    void nameResolved();
    void reportRequest(const std::string& host);
    void upstreamHandshakeEvents(std::uint32_t events);
    void readUpstreamHandshake();
    void refuse(CloseReason reason, const std::string& detail,
                ConnectOutcome outcome = ConnectOutcome::Failed, std::string_view refusedBy = {});
    void refuseBy(const Refusal& refusal);
    void finish(CloseReason reason, const std::string& detail, std::string_view refusedBy = {});

    SessionHost& host_;
    std::uint64_t id_;
    Endpoint client_;
    Endpoint listener_;
    Endpoint destination_;
    Endpoint upstreamLocal_;
    Relay relay_;
    std::unique_ptr<Negotiation> negotiation_;
    Clock::time_point started_;
    Clock::time_point connectStarted_;
    bool relaying_ = false;
    bool awaitingFd_ = false;
    bool finished_ = false;
    bool clientRefused_ = false;  // --allow-client: refused at accept, answered at the request
};

using SessionList = IntrusiveList<Session, &Session::allHook>;
using ConnectingList = IntrusiveList<Session, &Session::connectingHook>;

// What a Session needs from the server (one per worker) that owns it.
class SessionHost {
  public:
    virtual ~SessionHost() = default;
    virtual EventLoop& loop() = 0;
    virtual Backend& backend() = 0;
    virtual EventSink& events() = 0;
    virtual LoopGuard& loopGuard() = 0;
    // Failed authentications per client address, across workers.
    virtual AuthThrottle& authThrottle() = 0;
    virtual RelayResources& relayResources() = 0;
    virtual const SessionSettings& settings() const = 0;
    virtual ConnectingList& connecting() = 0;
    // socket() failed with EMFILE or ENFILE: free what can be freed, stop accepting for a while,
    // and call retryUpstream() on the sessions that wait (they stay on connecting()).
    virtual void shortOfFileDescriptors(int error) = 0;
    virtual void sessionClosed(Session& session, CloseReason reason, std::uint64_t clientToUpstream,
                               std::uint64_t upstreamToClient) = 0;
};

}  // namespace tplab
