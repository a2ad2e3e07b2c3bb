// The epoll loop: wait, dispatch the batch, run deferred work, fire due timers.
#include "event_loop.hpp"

#include <array>
#include <cerrno>

#include "result.hpp"

namespace tplab {

EventLoop::EventLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_) {
        throw setupError(errno, "epoll_create1(EPOLL_CLOEXEC)");
    }
}

void EventLoop::add(int fd, std::uint32_t events, EventHandler* handler) {
    epoll_event event{};
    event.events = events;
    event.data.ptr = handler;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
        throw setupError(errno, "epoll_ctl(EPOLL_CTL_ADD, fd " + std::to_string(fd) + ")");
    }
}

void EventLoop::remove(int fd) noexcept {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::TimerId EventLoop::runAfter(Clock::duration delay, std::function<void()> callback) {
    TimerId id{Clock::now() + delay, nextTimerSerial_++};
    timers_.emplace(id, std::move(callback));
    return id;
}

void EventLoop::cancel(const TimerId& id) noexcept {
    timers_.erase(id);
}

void EventLoop::defer(std::function<void()> task) {
    deferred_.push_back(std::move(task));
}

int EventLoop::msUntilNextTimer() const {
    if (!deferred_.empty()) {
        return 0;
    }
    if (timers_.empty()) {
        return -1;
    }
    auto wait = timers_.begin()->first.first - Clock::now();
    if (wait <= Clock::duration::zero()) {
        return 0;
    }
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
    return static_cast<int>(std::min<long long>(ms, 60'000));
}

void EventLoop::fireDueTimers() {
    auto now = Clock::now();
    while (!timers_.empty() && timers_.begin()->first.first <= now) {
        auto callback = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
        callback();
    }
}

void EventLoop::runDeferred() {
    while (!deferred_.empty()) {
        auto tasks = std::move(deferred_);
        deferred_.clear();
        for (auto& task : tasks) {
            task();
        }
    }
}

void EventLoop::run() {
    running_ = true;
    std::array<epoll_event, 256> events{};
    while (running_) {
        int count = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                                 msUntilNextTimer());
        if (count < 0 && errno != EINTR) {
            throw setupError(errno, "epoll_wait");
        }
        for (int i = 0; i < count; ++i) {
            static_cast<EventHandler*>(events[i].data.ptr)->onEvents(events[i].events);
        }
        runDeferred();
        fireDueTimers();
        runDeferred();
    }
}

}  // namespace tplab
