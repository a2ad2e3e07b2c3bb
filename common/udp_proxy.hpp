// UDP through TPROXY (or AnyIP): a session per (client, original destination), each with its own
// upstream socket; replies go back to the client from a transparent socket bound to the original
// destination, so the client sees the server's address as their source.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "access_policy.hpp"
#include "backend.hpp"
#include "event_loop.hpp"
#include "events_json.hpp"
#include "proxy_stats.hpp"
#include "result.hpp"
#include "udp_session_table.hpp"

namespace tplab {

struct UdpSettings {
    Clock::duration idleTimeout = std::chrono::seconds(30);
    std::size_t maxSessions = 4096;
    // 0: the default, max(1, maxSessions / 8).
    std::size_t maxSessionsPerClient = 0;
    std::optional<std::uint32_t> mark;
    bool spoofSource = false;
    // --allow-client, --allow-dest, --deny-dest: a new flow they refuse is dropped.
    std::shared_ptr<const AccessPolicy> access;

    [[nodiscard]] std::size_t perClientLimit() const noexcept;
};

// One instance per event loop; it keeps no global or static state.
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
    [[nodiscard]] std::size_t sessionCount() const noexcept { return table_.size(); }

  private:
    struct Receiver;
    struct Listener;
    struct ReplySocket;
    struct Session;

    void onDatagram(Receiver& receiver);
    Session* sessionFor(const Endpoint& client, const Endpoint& destination,
                        const Receiver& receiver);
    Session* openSession(const UdpFlowKey& key, const Endpoint& client, const Endpoint& destination,
                         const Receiver& receiver);
    Result<Fd> openUpstreamSocket(const Endpoint& client, const Endpoint& destination) const;
    Result<ReplySocket*> replySocketFor(const UdpEndpointKey& key, const Endpoint& destination);
    void releaseReplySocket(Session& session);
    void onUpstreamReadable(Session& session);
    void scheduleSweep();
    void sweepIdle();
    void evict(UdpSessionTable::Entry& entry, const std::string& why);
    void close(Session& session, CloseReason reason, const std::string& detail);

    EventLoop& loop_;
    Backend& backend_;
    EventSink& events_;
    ProxyStats& stats_;
    std::atomic<std::uint64_t>& nextId_;
    UdpSettings settings_;
    std::unique_ptr<char[]> buffer_;  // one datagram; never zeroed, only read into
    std::vector<std::unique_ptr<Listener>> listeners_;
    UdpSessionTable table_;
    std::vector<std::unique_ptr<UdpSessionTable::Entry>> retired_;
    std::unordered_map<UdpEndpointKey, std::unique_ptr<ReplySocket>, UdpKeyHash> replySockets_;
    std::vector<std::unique_ptr<ReplySocket>> retiredReplySockets_;
    std::optional<EventLoop::TimerId> sweepTimer_;
};

}  // namespace tplab
