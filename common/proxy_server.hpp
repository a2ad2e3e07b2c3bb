// One worker of the proxy: its listeners (SO_REUSEPORT with the other workers'), the accept
// loop, the connection limits (counted with the other workers), draining on shutdown, timeouts, and
// its counters. It sees the interception mode only through Backend.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "auth_throttle.hpp"
#include "backend.hpp"
#include "client_limits.hpp"
#include "event_loop.hpp"
#include "events_json.hpp"
#include "loop_guard.hpp"
#include "proxy_stats.hpp"
#include "relay_pools.hpp"
#include "session.hpp"
#include "socket_ops.hpp"
#include "udp_proxy.hpp"

namespace tplab {

struct ProxyOptions {
    std::vector<Endpoint> listen;
    SessionSettings session;
    std::size_t maxConnections = 4096;        // for the whole proxy: all workers count together
    std::size_t maxConnectionsPerClient = 0;  // per client address; 0: maxConnections / 8
    std::size_t maxPipes = 1024;              // for this worker (two fds each)
    std::size_t largePipes = 16;  // of them, enlarged to kLargePipeBytes (largePipeBudget())
    SpliceMode splice = SpliceMode::Auto;
    bool reusePort = false;  // several workers listen on the same addresses
    Clock::duration drainTimeout = std::chrono::seconds(10);
    std::optional<UdpSettings> udp;  // also proxy UDP on every --listen address (tproxy mode)
};

// What the workers of one proxy share: the loop guard, the connection ids, the connection
// counts (total and per client) and the failed authentications per client.
struct SharedProxyState {
    LoopGuard loopGuard;
    std::atomic<std::uint64_t> nextId{1};
    ConnectionBudget budget;
    AuthThrottle authThrottle;
};

class ProxyServer final : public SessionHost {
  public:
    // `shared` may be null for a lone server (tests): it then keeps its own.
    ProxyServer(EventLoop& loop, Backend& backend, EventSink& events, ProxyOptions options,
                SharedProxyState* shared = nullptr);
    ~ProxyServer() override;

    // Opens every listener; throws std::system_error naming the failed call. `registerGuard`:
    // this server tells the loop guard its listeners' addresses (one worker is enough).
    void start(bool registerGuard = true);
    // Stops accepting and lets open connections finish for up to --drain-timeout; the loop stops
    // when none is left. A second call resets what is still open and stops at once.
    void beginDrain();
    void writeStats(std::string_view trigger);

    // A copy of this worker's counters; safe to call from another thread.
    [[nodiscard]] ProxyStats stats() const;
    [[nodiscard]] std::vector<Endpoint> listeningAddresses() const;

    // SessionHost
    EventLoop& loop() override { return loop_; }
    Backend& backend() override { return backend_; }
    EventSink& events() override { return events_; }
    LoopGuard& loopGuard() override { return shared_->loopGuard; }
    AuthThrottle& authThrottle() override { return shared_->authThrottle; }
    RelayResources& relayResources() override { return resources_; }
    const SessionSettings& settings() const override { return options_.session; }
    ConnectingList& connecting() override { return connecting_; }
    void shortOfFileDescriptors(int error) override;
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

    void acceptAll(Listener& listener);
    void startSession(Accepted accepted, const Endpoint& listener);
    void refuseOverClientLimit(Accepted accepted, const Endpoint& listener);
    void pauseAccepting();
    void resumeAccepting();
    void backOff(const std::string& why);
    void retrySessionsAwaitingFd();
    void closeListeners();
    void abortAll(CloseReason reason);
    void scheduleSweep();
    void sweep();

    EventLoop& loop_;
    Backend& backend_;
    EventSink& events_;
    ProxyOptions options_;
    std::unique_ptr<SharedProxyState> ownShared_;
    SharedProxyState* shared_;
    RelayResources resources_;
    ProxyStats stats_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    SessionList sessions_;  // owned: deleted when retired or with the server
    ConnectingList connecting_;
    std::size_t sessionCount_ = 0;
    std::vector<std::unique_ptr<Session>> retired_;
    std::optional<EventLoop::TimerId> sweepTimer_;
    std::optional<EventLoop::TimerId> backOffTimer_;
    bool draining_ = false;
    bool acceptPaused_ = false;
    std::unique_ptr<UdpProxy> udp_;
};

}  // namespace tplab
