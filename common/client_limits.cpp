// The shared connection counters of ConnectionBudget.
#include "client_limits.hpp"

#include <algorithm>
#include <random>

namespace tplab {

std::size_t defaultPerClientLimit(std::size_t total) {
    return std::max<std::size_t>(1, total / 8);
}

ConnectionBudget::ConnectionBudget(std::size_t total, std::size_t perClient)
    : total_(total),
      perClient_(perClient == 0 ? defaultPerClientLimit(total) : perClient),
      perAddress_(16, UdpKeyHash{std::random_device{}()}) {}

void ConnectionBudget::setLimits(std::size_t total, std::size_t perClient) {
    total_ = std::max<std::size_t>(1, total);
    perClient_ = perClient == 0 ? defaultPerClientLimit(total_) : perClient;
}

void ConnectionBudget::onRoomAgain(std::function<void()> wake) {
    wakers_.push_back(std::move(wake));
}

bool ConnectionBudget::reserve() noexcept {
    if (open_.fetch_add(1) >= total_) {
        open_.fetch_sub(1);
        return false;
    }
    return true;
}

void ConnectionBudget::giveBack() {
    // Wake the paused workers only when this brings the total back under the limit.
    if (open_.fetch_sub(1) >= total_) {
        for (auto& wake : wakers_) {
            wake();
        }
    }
}

void ConnectionBudget::unreserve() {
    giveBack();
}

bool ConnectionBudget::admit(const Endpoint& client) {
    auto key = UdpEndpointKey::from(client).withoutPort();
    {
        std::lock_guard lock(mutex_);
        auto [it, inserted] = perAddress_.try_emplace(key, 0);
        if (it->second < perClient_) {
            ++it->second;
            return true;
        }
    }
    giveBack();
    return false;
}

void ConnectionBudget::release(const Endpoint& client) {
    auto key = UdpEndpointKey::from(client).withoutPort();
    {
        std::lock_guard lock(mutex_);
        if (auto it = perAddress_.find(key); it != perAddress_.end() && --it->second == 0) {
            perAddress_.erase(it);
        }
    }
    giveBack();
}

std::size_t ConnectionBudget::openFor(const Endpoint& client) const {
    auto key = UdpEndpointKey::from(client).withoutPort();
    std::lock_guard lock(mutex_);
    auto it = perAddress_.find(key);
    return it == perAddress_.end() ? 0 : it->second;
}

}  // namespace tplab
