// Slowing down password guessing (socks5 and http-connect with --socks-user), per client
// address and across workers: after kFreeFailures failed attempts each further failure is
// answered kDelay late, and kLockoutFailures failures lock the address out for kLockout, in
// which even the right password is refused with the same reply as a wrong one. A failure
// older than kForget is forgotten. docs/security.md#authentication has the schedule.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <unordered_map>

#include "endpoint.hpp"
#include "event_loop.hpp"
#include "udp_flow_key.hpp"

namespace tplab {

class AuthThrottle {
  public:
    static constexpr int kFreeFailures = 3;
    static constexpr Clock::duration kDelay = std::chrono::seconds(1);
    static constexpr int kLockoutFailures = 10;
    static constexpr Clock::duration kLockout = std::chrono::seconds(60);
    static constexpr Clock::duration kForget = std::chrono::minutes(10);
    // Addresses remembered at most; past it those not locked out are forgotten first.
    static constexpr std::size_t kMaxAddresses = 65536;

    struct Failure {
        Clock::duration delay{};      // answer this much later
        bool lockoutStarted = false;  // this failure locked the address out
        int failures = 0;             // failures counted for the address so far
    };

    AuthThrottle();
    // True while `client` is locked out: refuse it as if its password were wrong.
    bool lockedOut(const Endpoint& client, Clock::time_point now);
    // A failed attempt (a wrong password, or any attempt while locked out).
    Failure failed(const Endpoint& client, Clock::time_point now);
    // A successful one: the address starts again from no failures.
    void succeeded(const Endpoint& client);

  private:
    struct Record {
        int failures = 0;
        Clock::time_point lastFailure;
        Clock::time_point lockedUntil;
    };
    void makeRoom(Clock::time_point now);

    std::mutex mutex_;
    std::unordered_map<UdpEndpointKey, Record, UdpKeyHash> records_;
};

}  // namespace tplab
