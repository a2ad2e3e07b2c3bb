// The loop guard's two checks.
#include "loop_guard.hpp"

#include <cstring>
#include <string_view>

#include "socket_ops.hpp"

namespace tplab {

void LoopGuard::addListener(const Endpoint& address) {
    listeners_.push_back(address);
}

bool LoopGuard::isOwnListener(const Endpoint& destination) const {
    for (const auto& listener : listeners_) {
        if (listener.port() != destination.port()) {
            continue;
        }
        if (listener.sameAddress(destination)) {
            return true;
        }
        if (listener.isWildcard() && sys::isLocalAddress(destination)) {
            return true;
        }
    }
    return false;
}

LoopGuard::PairKey LoopGuard::keyOf(const Endpoint& local, const Endpoint& peer) noexcept {
    PairKey key{};
    Endpoint a = local.unmapped();
    Endpoint b = peer.unmapped();
    key[0] = static_cast<std::uint8_t>(a.family());
    a.copyAddressBytes(&key[1]);
    b.copyAddressBytes(&key[17]);
    std::uint16_t ports[2] = {a.port(), b.port()};
    std::memcpy(&key[33], ports, sizeof(ports));
    return key;
}

std::size_t LoopGuard::PairKeyHash::operator()(const PairKey& key) const noexcept {
    return std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

void LoopGuard::upstreamOpened(const Endpoint& local, const Endpoint& peer) {
    auto key = keyOf(local, peer);
    std::lock_guard lock(mutex_);
    upstreams_.insert(key);
}

void LoopGuard::upstreamClosed(const Endpoint& local, const Endpoint& peer) {
    auto key = keyOf(local, peer);
    std::lock_guard lock(mutex_);
    if (auto found = upstreams_.find(key); found != upstreams_.end()) {
        upstreams_.erase(found);
    }
}

bool LoopGuard::isOwnUpstream(const Endpoint& client, const Endpoint& destination) const {
    auto key = keyOf(client, destination);
    std::lock_guard lock(mutex_);
    return upstreams_.count(key) > 0;
}

}  // namespace tplab
