// Starting, stopping and counting the workers.
#include "proxy_workers.hpp"

#include <stdexcept>

#include "log.hpp"

namespace tplab {
namespace {

std::size_t shareOf(std::size_t total, std::size_t workers) {
    return std::max<std::size_t>(1, (total + workers - 1) / workers);
}

}  // namespace

ProxyWorkers::ProxyWorkers(Backend& backend, EventSink& events, const ProxyOptions& options,
                           std::size_t workers)
    : events_(events) {
    workers = std::max<std::size_t>(1, workers);
    // Connections are counted together (SharedProxyState::budget): a full worker never
    // strands the connections that the kernel hashes to it while the proxy has room.
    shared_.budget.setLimits(options.maxConnections, options.maxConnectionsPerClient);
    ProxyOptions share = options;
    share.maxPipes = options.maxPipes == 0 ? 0 : shareOf(options.maxPipes, workers);
    share.largePipes = options.largePipes / workers;
    share.reusePort = workers > 1;
    if (share.udp) {
        share.udp->maxSessions = shareOf(options.udp->maxSessions, workers);
    }
    for (std::size_t i = 0; i < workers; ++i) {
        auto worker = std::make_unique<Worker>();
        worker->server =
            std::make_unique<ProxyServer>(worker->loop, backend, events, share, &shared_);
        workers_.push_back(std::move(worker));
    }
}

ProxyWorkers::~ProxyWorkers() {
    for (auto& worker : workers_) {
        if (worker->thread.joinable()) {
            worker->loop.post([loop = &worker->loop] { loop->stop(); });
            worker->thread.join();
        }
    }
}

void ProxyWorkers::start() {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        workers_[i]->server->start(/*registerGuard=*/i == 0);
    }
}

void ProxyWorkers::run() {
    running_ = workers_.size();
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        workers_[i]->thread = std::thread([this, i, w = workers_[i].get()] {
            std::string death;
            try {
                w->loop.run();
            } catch (const std::exception& e) {
                death = e.what();
            } catch (...) {
                death = "an exception that is not a std::exception";
            }
            mainLoop_.post([this, i, death = std::move(death)] { workerStopped(i, death); });
        });
    }
    mainLoop_.run();
    for (auto& worker : workers_) {
        worker->thread.join();
    }
    if (!failure_.empty()) {
        throw std::runtime_error(failure_);
    }
}

// On the main thread. A worker's loop ends normally once drained; any other end is a death,
// and the proxy stops with it rather than leave that worker's listener open with nobody to
// accept on it (the kernel would keep handing it connections that hang).
void ProxyWorkers::workerStopped(std::size_t index, const std::string& death) {
    if (!death.empty() && failure_.empty()) {
        failure_ = "worker " + std::to_string(index + 1) + " of " +
                   std::to_string(workers_.size()) + " stopped: " + death +
                   "; the proxy stops with it";
        for (auto& worker : workers_) {
            worker->loop.post([loop = &worker->loop] { loop->stop(); });
        }
    }
    if (--running_ == 0) {
        mainLoop_.stop();
    }
}

void ProxyWorkers::beginDrain() {
    for (auto& worker : workers_) {
        worker->loop.post([server = worker->server.get()] { server->beginDrain(); });
    }
}

ProxyStats ProxyWorkers::stats() const {
    ProxyStats total;
    for (const auto& worker : workers_) {
        total.add(worker->server->stats());
    }
    return total;
}

void ProxyWorkers::writeStats(std::string_view trigger) {
    if (events_.enabled()) {
        events_.write(statsEvent(trigger, stats()));
    }
}

std::vector<Endpoint> ProxyWorkers::listeningAddresses() const {
    return workers_.front()->server->listeningAddresses();
}

}  // namespace tplab
