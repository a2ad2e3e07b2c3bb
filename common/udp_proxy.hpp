// UDP through TPROXY: a session per (client, original destination), each with its own upstream
// socket; replies go back to the client from a transparent socket bound to the original
// destination, so the client sees the server's address as their source.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend.hpp"
#include "event_loop.hpp"
#include "events_json.hpp"
#include "proxy_stats.hpp"

namespace tplab {

struct UdpSettings {
    Clock::duration idleTimeout = std::chrono::seconds(30);
    std::size_t maxSessions = 4096;
    std::optional<std::uint32_t> mark;
    bool spoofSource = false;
};

class UdpProxy {
  public:
    UdpProxy(EventLoop& loop, Backend& backend, EventSink& events, ProxyStats& stats,
             std::atomic<std::uint64_t>& nextId, UdpSettings settings);
    ~UdpProxy();
    UdpProxy(const UdpProxy&) = delete;
    UdpProxy& operator=(const UdpProxy&) = delete;

    // Opens a datagram listener through the backend (throws what the backend throws).
    void listen(const Endpoint& address, const ListenerOptions& options);
    // Closes the listeners and every session (UDP has no graceful end to wait for).
    void stop(CloseReason reason);
    [[nodiscard]] std::size_t sessionCount() const noexcept { return sessions_.size(); }

  private:
    struct Listener;
    struct Session;

    void onDatagram(Listener& listener);
    Session* sessionFor(const Endpoint& client, const Endpoint& destination,
                        const Listener& listener);
    std::shared_ptr<Fd> replySocketFor(const Endpoint& destination);
    void onUpstreamReadable(Session& session);
    void scheduleSweep();
    void sweepIdle();
    void close(const std::string& key, CloseReason reason, const std::string& detail);

    EventLoop& loop_;
    Backend& backend_;
    EventSink& events_;
    ProxyStats& stats_;
    std::atomic<std::uint64_t>& nextId_;
    UdpSettings settings_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::unordered_map<std::string, std::unique_ptr<Session>> sessions_;
    std::vector<std::unique_ptr<Session>> retired_;
    std::unordered_map<std::string, std::weak_ptr<Fd>> replySockets_;
    std::optional<EventLoop::TimerId> sweepTimer_;
};

}  // namespace tplab
