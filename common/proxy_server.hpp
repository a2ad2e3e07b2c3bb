// The proxy process: listeners, the accept loop, the connection limit, draining on shutdown,
// and the stats. It sees the interception mode only through Backend.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backend.hpp"
#include "event_loop.hpp"
#include "events_json.hpp"
#include "proxy_stats.hpp"
#include "session.hpp"
#include "udp_proxy.hpp"

namespace tplab {

struct ProxyOptions {
    std::vector<Endpoint> listen;
    SessionSettings session;
    std::size_t maxConnections = 4096;
    Clock::duration drainTimeout = std::chrono::seconds(10);
    std::optional<UdpSettings> udp;  // also proxy UDP on every --listen address (tproxy mode)
};

class ProxyServer final : public SessionHost {
  public:
    ProxyServer(EventLoop& loop, Backend& backend, EventSink& events, ProxyOptions options);
    ~ProxyServer() override;

    // Opens every listener; throws std::system_error naming the failed call.
    void start();
    // Stops accepting and lets open connections finish for up to --drain-timeout; the loop stops
    // when none is left. A second call resets what is still open and stops at once.
    void beginDrain();
    void writeStats(std::string_view trigger);

    [[nodiscard]] const ProxyStats& stats() const noexcept { return stats_; }
    [[nodiscard]] std::vector<Endpoint> listeningAddresses() const;

    // SessionHost
    EventLoop& loop() override { return loop_; }
    Backend& backend() override { return backend_; }
    EventSink& events() override { return events_; }
    const SessionSettings& settings() const override { return options_.session; }
    bool isOwnListener(const Endpoint& destination) override;
    bool isOwnUpstream(const Endpoint& client, const Endpoint& destination) const override;
    void upstreamOpened(const Endpoint& local, const Endpoint& peer) override;
    void upstreamClosed(const Endpoint& local, const Endpoint& peer) override;
    void sessionClosed(Session& session, CloseReason reason, std::uint64_t clientToUpstream,
                       std::uint64_t upstreamToClient) override;

  private:
    struct Listener : EventHandler {
        ProxyServer* server = nullptr;
        Fd fd;
        Endpoint address;
        bool registered = false;
        void onEvents(std::uint32_t /*events*/) override { server->acceptAll(*this); }
    };

    void checkPrivilegedOptionsAllowed();
    void acceptAll(Listener& listener);
    void pauseAccepting();
    void resumeAccepting();
    void closeListeners();
    void abortAll(CloseReason reason);

    EventLoop& loop_;
    Backend& backend_;
    EventSink& events_;
    ProxyOptions options_;
    ProxyStats stats_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Session>> sessions_;
    std::vector<std::unique_ptr<Session>> retired_;
    std::unordered_set<std::string> upstreamPairs_;  // "local>peer" of each open upstream
    std::uint64_t nextId_ = 1;
    bool draining_ = false;
    bool acceptPaused_ = false;
    std::unique_ptr<UdpProxy> udp_;
};

}  // namespace tplab
