// A single-threaded epoll loop: fd readiness, a queue of handlers that asked to run again
// (fairness: a busy connection yields after its budget), one-shot timers, work deferred to the
// end of a batch, and tasks posted from other threads. One per worker thread.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "fd.hpp"
#include "intrusive_list.hpp"
#include "result.hpp"

namespace tplab {

using Clock = std::chrono::steady_clock;

// Whoever owns an fd in the loop implements this; `events` is the epoll event mask.
class EventHandler {
  public:
    virtual ~EventHandler() = default;
    virtual void onEvents(std::uint32_t events) = 0;
    // onEvents threw `error`; called inside the loop's catch block. A connection's handler
    // closes that connection (with a `closed` event); the default rethrows, which stops the
    // loop, and with it the worker and the process.
    virtual void onFailure(const std::exception& error) {
        (void)error;
        throw;
    }
};

// Something that stopped early to let others run and wants to continue in the next round.
class Resumable {
  public:
    virtual ~Resumable() = default;
    virtual void resume() = 0;
    ListHook resumeHook;
};

class EventLoop {
  public:
    using TimerId = std::pair<Clock::time_point, std::uint64_t>;

    EventLoop();  // throws std::system_error if epoll_create1 or eventfd fails
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Registers `fd`; a failure (ENOMEM, ENOSPC: max_user_watches) comes back as a Status.
    Status add(int fd, std::uint32_t events, EventHandler* handler) noexcept;
    void remove(int fd) noexcept;

    // Runs `resumable.resume()` in the next round, after the fds that are ready now.
    void runAgain(Resumable& resumable) noexcept { again_.pushBack(resumable); }

    TimerId runAfter(Clock::duration delay, std::function<void()> callback);
    void cancel(const TimerId& id) noexcept;

    // Runs `task` after every handler of the current batch has run. Handlers use it to destroy
    // objects that a later event of the same batch may still point at.
    void defer(std::function<void()> task);

    // Thread-safe: runs `task` on the loop's thread soon (wakes the loop through an eventfd).
    void post(std::function<void()> task);

    // The time the current batch started: cheaper than a clock read per transfer.
    [[nodiscard]] Clock::time_point now() const noexcept { return now_; }

    void run();
    void stop() noexcept { running_ = false; }

  private:
    struct Wakeup : EventHandler {
        EventLoop* loop = nullptr;
        void onEvents(std::uint32_t events) override;
    };

    int msUntilNextTimer() const;
    void fireDueTimers();
    void runDeferred();
    void runAgainQueue();
    void runPosted();

    Fd epoll_;
    Fd wakeupFd_;
    Wakeup wakeup_;
    bool running_ = false;
    Clock::time_point now_ = Clock::now();
    std::uint64_t nextTimerSerial_ = 0;
    std::map<TimerId, std::function<void()>> timers_;
    std::vector<std::function<void()>> deferred_;
    IntrusiveList<Resumable, &Resumable::resumeHook> again_;
    std::mutex postedMutex_;
    std::vector<std::function<void()>> posted_;
};

}  // namespace tplab
