// The proxy as N workers, nginx-style: each worker thread has its own event loop and its own
// SO_REUSEPORT listeners, and owns its connections from accept() to close, so nothing is shared
// on the hot path but the loop guard
// and, at accept and close, the connection counts. The main thread handles signals and merges the
// counters.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "proxy_server.hpp"

namespace tplab {

class ProxyWorkers {
  public:
    // `options` holds the limits for the whole proxy: the connection limits are counted across
    // workers, the pipes and UDP sessions are shared out.
    ProxyWorkers(Backend& backend, EventSink& events, const ProxyOptions& options,
                 std::size_t workers);
    ~ProxyWorkers();
    ProxyWorkers(const ProxyWorkers&) = delete;
    ProxyWorkers& operator=(const ProxyWorkers&) = delete;

    // Opens every worker's listeners, in the calling thread; throws std::system_error.
    void start();
    // Starts the worker threads and runs the main loop (signals) until every worker has
    // stopped. `onSignal` gets SIGINT, SIGTERM and SIGUSR1 on the main thread. A worker that
    // dies (an exception out of its loop) stops every other one, and run() then throws
    // std::runtime_error naming it: its SO_REUSEPORT listener must not stay open unserved.
    void run();

    // Thread-safe: asks every worker to drain (a second call resets what is left).
    void beginDrain();
    // The sum of every worker's counters.
    [[nodiscard]] ProxyStats stats() const;
    void writeStats(std::string_view trigger);
    [[nodiscard]] std::vector<Endpoint> listeningAddresses() const;
    [[nodiscard]] EventLoop& mainLoop() { return mainLoop_; }
    // Worker `index`'s loop: for tests, which post work (a failure) to it.
    [[nodiscard]] EventLoop& workerLoop(std::size_t index) { return workers_.at(index)->loop; }

  private:
    void workerStopped(std::size_t index, const std::string& death);

    struct Worker {
        EventLoop loop;
        std::unique_ptr<ProxyServer> server;
        std::thread thread;
    };

    EventSink& events_;
    SharedProxyState shared_;
    EventLoop mainLoop_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::size_t running_ = 0;
    std::string failure_;  // the first worker's death, main thread only
};

}  // namespace tplab
