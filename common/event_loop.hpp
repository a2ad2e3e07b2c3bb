// A single-threaded epoll loop with one-shot timers and work deferred to the end of a batch.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "fd.hpp"

namespace tplab {

using Clock = std::chrono::steady_clock;

// Whoever owns an fd in the loop implements this; `events` is the epoll event mask.
class EventHandler {
  public:
    virtual ~EventHandler() = default;
    virtual void onEvents(std::uint32_t events) = 0;
};

class EventLoop {
  public:
    using TimerId = std::pair<Clock::time_point, std::uint64_t>;

    EventLoop();  // throws std::system_error if epoll_create1 fails

    void add(int fd, std::uint32_t events, EventHandler* handler);
    void remove(int fd) noexcept;

    TimerId runAfter(Clock::duration delay, std::function<void()> callback);
    void cancel(const TimerId& id) noexcept;

    // Runs `task` after every handler of the current batch has run. Handlers use it to destroy
    // objects that a later event of the same batch may still point at.
    void defer(std::function<void()> task);

    void run();
    void stop() noexcept { running_ = false; }

  private:
    int msUntilNextTimer() const;
    void fireDueTimers();
    void runDeferred();

    Fd epoll_;
    bool running_ = false;
    std::uint64_t nextTimerSerial_ = 0;
    std::map<TimerId, std::function<void()>> timers_;
    std::vector<std::function<void()>> deferred_;
};

}  // namespace tplab
