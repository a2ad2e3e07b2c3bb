// The loop guard, shared by every worker and by TCP and UDP: a connection must not be relayed
// to the proxy itself. Two ways it can happen: the original destination is one of our own
// listeners (the connection reached us without interception), or the "client" is one of our
// own upstream connections, intercepted again (no --mark exemption). The second can land on
// any worker, so the table of open upstreams is shared, behind a mutex held for one lookup.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "endpoint.hpp"

namespace tplab {

class LoopGuard {
  public:
    // Called at start, before any worker serves: the addresses our listeners are bound to.
    void addListener(const Endpoint& address);
    [[nodiscard]] bool isOwnListener(const Endpoint& destination) const;

    // An upstream connection from `local` to `peer` is open / closed.
    void upstreamOpened(const Endpoint& local, const Endpoint& peer);
    void upstreamClosed(const Endpoint& local, const Endpoint& peer);
    // Is `client` -> `destination` one of those, seen again? The whole pair is compared: with
    // --spoof-source an upstream shares the client's address.
    [[nodiscard]] bool isOwnUpstream(const Endpoint& client, const Endpoint& destination) const;

  private:
    // Family, both addresses (16 bytes each, IPv4 unmapped) and both ports: binary, no strings.
    using PairKey = std::array<std::uint8_t, 37>;
    struct PairKeyHash {
        std::size_t operator()(const PairKey& key) const noexcept;
    };
    static PairKey keyOf(const Endpoint& local, const Endpoint& peer) noexcept;

    std::vector<Endpoint> listeners_;
    mutable std::mutex mutex_;
    std::unordered_multiset<PairKey, PairKeyHash> upstreams_;
};

}  // namespace tplab
