// The failure counts of AuthThrottle.
#include "auth_throttle.hpp"

#include <random>

namespace tplab {

AuthThrottle::AuthThrottle() : records_(16, UdpKeyHash{std::random_device{}()}) {}

bool AuthThrottle::lockedOut(const Endpoint& client, Clock::time_point now) {
    auto key = UdpEndpointKey::from(client).withoutPort();
    std::lock_guard lock(mutex_);
    auto it = records_.find(key);
    return it != records_.end() && now < it->second.lockedUntil;
}

AuthThrottle::Failure AuthThrottle::failed(const Endpoint& client, Clock::time_point now) {
    auto key = UdpEndpointKey::from(client).withoutPort();
    std::lock_guard lock(mutex_);
    if (records_.size() >= kMaxAddresses && records_.find(key) == records_.end()) {
        makeRoom(now);
    }
    Record& record = records_[key];
    Failure result;
    if (now < record.lockedUntil) {  // locked out: answer late, count nothing more
        result.delay = kDelay;
        result.failures = record.failures;
        return result;
    }
    if (record.failures >= kLockoutFailures || now - record.lastFailure >= kForget) {
        record.failures = 0;  // a lock-out that ran out, or old failures: start again
    }
    record.lastFailure = now;
    result.failures = ++record.failures;
    if (record.failures > kFreeFailures) {
        result.delay = kDelay;
    }
    if (record.failures >= kLockoutFailures) {
        record.lockedUntil = now + kLockout;
        result.lockoutStarted = true;
    }
    return result;
}

void AuthThrottle::succeeded(const Endpoint& client) {
    auto key = UdpEndpointKey::from(client).withoutPort();
    std::lock_guard lock(mutex_);
    records_.erase(key);
}

void AuthThrottle::makeRoom(Clock::time_point now) {
    for (auto it = records_.begin(); it != records_.end();) {
        bool locked = now < it->second.lockedUntil;
        it = locked ? std::next(it) : records_.erase(it);
    }
}

}  // namespace tplab
