// One proxied connection: recover the destination, guard against loops, connect upstream,
// then hand both sockets to a Relay. Reports each step as an event.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "backend.hpp"
#include "close_reason.hpp"
#include "event_loop.hpp"
#include "events_json.hpp"
#include "relay.hpp"
#include "socket_ops.hpp"

namespace tplab {

struct SessionSettings {
    std::optional<std::uint32_t> mark;  // SO_MARK for upstream sockets
    bool spoofSource = false;           // upstream binds the client's address (IP_TRANSPARENT)
    Clock::duration connectTimeout = std::chrono::seconds(5);
    Clock::duration idleTimeout = std::chrono::seconds(300);  // zero: never
};

class Session;

// What a Session needs from the server that owns it.
class SessionHost {
  public:
    virtual ~SessionHost() = default;
    virtual EventLoop& loop() = 0;
    virtual Backend& backend() = 0;
    virtual EventSink& events() = 0;
    virtual const SessionSettings& settings() const = 0;
    // Loop guard: is this destination one of the proxy's own listeners?
    virtual bool isOwnListener(const Endpoint& destination) = 0;
    // Loop guard: is this connection (client -> destination) one of the proxy's own upstream
    // connections, intercepted again? The whole pair is compared: with --spoof-source an upstream
    // shares the client's address.
    virtual bool isOwnUpstream(const Endpoint& client, const Endpoint& destination) const = 0;
    virtual void upstreamOpened(const Endpoint& local, const Endpoint& peer) = 0;
    virtual void upstreamClosed(const Endpoint& local, const Endpoint& peer) = 0;
    virtual void sessionClosed(Session& session, CloseReason reason, std::uint64_t clientToUpstream,
                               std::uint64_t upstreamToClient) = 0;
};

class Session : private EventHandler {
  public:
    Session(SessionHost& host, std::uint64_t id, Accepted client, const Endpoint& listener);
    ~Session() override;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void start();
    // Ends the session now, resetting both sides (idle timeout, drain deadline).
    void abort(CloseReason reason);

    [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

  private:
    void onEvents(std::uint32_t events) override;  // upstream connect completion
    void connectUpstream(const Endpoint& destination);
    void onConnected();
    void onConnectFailed(int err);
    void onConnectTimeout();
    void onRelayDone(RelayEnd end, int err);
    void scheduleIdleCheck(Clock::duration delay);
    void onIdleCheck();
    void refuse(CloseReason reason, const std::string& detail);
    void finish(CloseReason reason, const std::string& detail);

    SessionHost& host_;
    std::uint64_t id_;
    Fd client_;
    Endpoint clientAddress_;
    Endpoint listener_;
    Endpoint destination_;
    Fd upstream_;
    Endpoint upstreamLocal_;
    std::unique_ptr<Relay> relay_;
    std::optional<EventLoop::TimerId> timer_;
    Clock::time_point started_ = Clock::now();
    Clock::time_point connectStarted_;
    bool finished_ = false;
};

}  // namespace tplab
