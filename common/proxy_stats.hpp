// Counters the proxy keeps for the `stats` event (SIGUSR1 and exit). Each worker has its own
// set, written only by its thread; the main thread reads them all and adds them up, so no
// counter is shared on the hot path.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <iterator>

#include "close_reason.hpp"

namespace tplab {

// A counter with one writer and any number of readers: relaxed atomics, no locked instruction.
class Counter {
  public:
    Counter() = default;
    Counter(const Counter& other) noexcept : value_(other.get()) {}
    Counter& operator=(const Counter& other) noexcept { return *this = other.get(); }
    Counter& operator=(std::uint64_t value) noexcept {
        value_.store(value, std::memory_order_relaxed);
        return *this;
    }
    Counter& operator+=(std::uint64_t n) noexcept { return *this = get() + n; }
    Counter& operator++() noexcept { return *this += 1; }
    [[nodiscard]] std::uint64_t get() const noexcept {
        return value_.load(std::memory_order_relaxed);
    }
    operator std::uint64_t() const noexcept { return get(); }  // NOLINT: reads like a number

  private:
    std::atomic<std::uint64_t> value_{0};
};

template <typename JsonType>
void to_json(JsonType& json, const Counter& counter) {
    json = counter.get();
}

struct ProxyStats {
    Counter accepted;
    Counter active;
    Counter bytesClientToUpstream;
    Counter bytesUpstreamToClient;
    Counter acceptErrors;
    Counter acceptPausedAtLimit;
    Counter upstreamFdShortages;      // socket() for an upstream failed with EMFILE/ENFILE
    Counter budgetYields;             // a busy connection stepped aside so that others could run
    Counter udpDatagramsDropped;      // the sum of the udpDropped* reasons below
    Counter udpDroppedNoDestination;  // no IP_ORIGDSTADDR control message
    Counter udpDroppedLoop;           // addressed to the proxy's own port
    Counter udpDroppedSessionError;   // socket/bind/connect/epoll failed for a new flow
    Counter udpDroppedNotAllowed;     // --allow-client, --deny-dest or a default denial
    Counter udpSendErrors;            // send() or sendto() failed: datagram lost
    Counter udpEvictedClientLimit;    // the client's LRU session gave way to its new flow
    Counter udpEvictedTableFull;      // the LRU session overall gave way to a new flow
    Counter udpEvictedFdLimit;        // an LRU session closed to free fds (EMFILE)
    Counter udpSessions;              // open now
    Counter udpReplySockets;          // open now (one per destination in use)
    std::array<Counter, std::size(kAllCloseReasons)> closed{};

    Counter& closedFor(CloseReason reason) { return closed[static_cast<std::size_t>(reason)]; }

    // Adds `other` to this one (the main thread merging the workers' counters).
    void add(const ProxyStats& other) noexcept {
        accepted += other.accepted;
        active += other.active;
        bytesClientToUpstream += other.bytesClientToUpstream;
        bytesUpstreamToClient += other.bytesUpstreamToClient;
        acceptErrors += other.acceptErrors;
        acceptPausedAtLimit += other.acceptPausedAtLimit;
        upstreamFdShortages += other.upstreamFdShortages;
        budgetYields += other.budgetYields;
        udpDatagramsDropped += other.udpDatagramsDropped;
        udpDroppedNoDestination += other.udpDroppedNoDestination;
        udpDroppedLoop += other.udpDroppedLoop;
        udpDroppedSessionError += other.udpDroppedSessionError;
        udpDroppedNotAllowed += other.udpDroppedNotAllowed;
        udpSendErrors += other.udpSendErrors;
        udpEvictedClientLimit += other.udpEvictedClientLimit;
        udpEvictedTableFull += other.udpEvictedTableFull;
        udpEvictedFdLimit += other.udpEvictedFdLimit;
        udpSessions += other.udpSessions;
        udpReplySockets += other.udpReplySockets;
        for (std::size_t i = 0; i < closed.size(); ++i) {
            closed[i] += other.closed[i];
        }
    }
};

}  // namespace tplab
