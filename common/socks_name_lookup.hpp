// Resolving the name in a SOCKS5 or CONNECT request without blocking the event loop: each
// lookup runs getaddrinfo() on a short-lived thread of its own (at most kMaxInFlight at once in
// the process, kMaxInFlightPerClient for one client address, so that a client asking for names
// that never resolve cannot take every slot) and signals an eventfd that the session watches.
// The session may be gone by then (its deadline ran out): the lookup is shared, so the thread
// never writes to freed memory, and it holds its slot until getaddrinfo() returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "endpoint.hpp"
#include "fd.hpp"

namespace tplab {

class NameLookup {
  public:
    static constexpr int kMaxInFlight = 64;
    static constexpr int kMaxInFlightPerClient = kMaxInFlight / 8;

    // Starts the lookup for `client`; nullptr (with `why`) when too many are in flight (for
    // the process or for that client address) or no thread or eventfd could be had.
    static std::shared_ptr<NameLookup> start(const std::string& host, std::uint16_t port,
                                             const Endpoint& client, std::string& why);

    // Becomes readable once the answer is in.
    [[nodiscard]] int eventFd() const noexcept { return done_.get(); }
    [[nodiscard]] bool finished() const noexcept {
        return finished_.load(std::memory_order_acquire);
    }
    // After finished(): the first address, or nothing with error() saying why.
    [[nodiscard]] const std::optional<Endpoint>& address() const noexcept { return address_; }
    [[nodiscard]] const std::string& error() const noexcept { return error_; }

    explicit NameLookup(Fd done) : done_(std::move(done)) {}

  private:
    void run(const std::string& host, std::uint16_t port, const Endpoint& client);

    Fd done_;
    std::atomic<bool> finished_{false};
    std::optional<Endpoint> address_;
    std::string error_;
};

}  // namespace tplab
