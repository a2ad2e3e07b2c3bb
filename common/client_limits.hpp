// What the workers of one proxy count together, so that one client cannot take what is meant
// for all: the open connections of the whole proxy (--max-connections) and of each client
// address (--max-connections-per-client). A mutex and a small hash map: taken twice per
// connection (accept, close), never per byte.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "endpoint.hpp"
#include "udp_flow_key.hpp"

namespace tplab {

// max(1, total / 8), the default of --max-connections-per-client (as for UDP sessions).
std::size_t defaultPerClientLimit(std::size_t total);

class ConnectionBudget {
  public:
    // perClient 0: defaultPerClientLimit(total).
    explicit ConnectionBudget(std::size_t total = 4096, std::size_t perClient = 0);
    ConnectionBudget(const ConnectionBudget&) = delete;
    ConnectionBudget& operator=(const ConnectionBudget&) = delete;

    // Before the workers start: the limits, and what to call (from any thread) when the total
    // drops below the limit again, so a worker that paused may accept again.
    void setLimits(std::size_t total, std::size_t perClient);
    void onRoomAgain(std::function<void()> wake);

    // Takes one connection of the total before accept(); false when the total is reached.
    bool reserve() noexcept;
    // accept() found no connection for the reservation: gives it back.
    void unreserve();
    // After accept(): counts the connection for its client address. False (and the
    // reservation given back) when the client already has its limit open.
    bool admit(const Endpoint& client);
    // A connection that admit() counted has closed.
    void release(const Endpoint& client);

    [[nodiscard]] bool full() const noexcept { return open_.load() >= total_; }
    [[nodiscard]] std::size_t total() const noexcept { return total_; }
    [[nodiscard]] std::size_t perClient() const noexcept { return perClient_; }
    [[nodiscard]] std::size_t openFor(const Endpoint& client) const;

  private:
    void giveBack();

    std::size_t total_;
    std::size_t perClient_;
    std::atomic<std::size_t> open_{0};
    std::vector<std::function<void()>> wakers_;
    mutable std::mutex mutex_;
    std::unordered_map<UdpEndpointKey, std::size_t, UdpKeyHash> perAddress_;
};

}  // namespace tplab
