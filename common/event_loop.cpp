// The epoll loop: wait, dispatch the batch, resume who yielded, run deferred work, fire timers.
#include "event_loop.hpp"

#include <sys/eventfd.h>

#include <array>
#include <cerrno>

namespace tplab {

EventLoop::EventLoop()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)), wakeupFd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!epoll_) {
        throw setupError(errno, "epoll_create1(EPOLL_CLOEXEC)");
    }
    if (!wakeupFd_) {
        throw setupError(errno, "eventfd(EFD_NONBLOCK)");
    }
    wakeup_.loop = this;
    if (auto added = add(wakeupFd_.get(), EPOLLIN, &wakeup_); !added) {
        throw setupError(added.error(), "epoll_ctl(EPOLL_CTL_ADD, eventfd)");
    }
}

EventLoop::~EventLoop() = default;

Status EventLoop::add(int fd, std::uint32_t events, EventHandler* handler) noexcept {
    epoll_event event{};
    event.events = events;
    event.data.ptr = handler;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
        return Status::fromErrno();
    }
    return Status();
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

void EventLoop::post(std::function<void()> task) {
    {
        std::lock_guard lock(postedMutex_);
        posted_.push_back(std::move(task));
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(wakeupFd_.get(), &one, sizeof(one));
}

void EventLoop::Wakeup::onEvents(std::uint32_t /*events*/) {
    std::uint64_t count = 0;
    [[maybe_unused]] auto got = ::read(loop->wakeupFd_.get(), &count, sizeof(count));
    loop->runPosted();
}

void EventLoop::runPosted() {
    std::vector<std::function<void()>> tasks;
    {
        std::lock_guard lock(postedMutex_);
        tasks.swap(posted_);
    }
    for (auto& task : tasks) {
        task();
    }
}

int EventLoop::msUntilNextTimer() const {
    if (!deferred_.empty() || !again_.empty()) {
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

// Each element queued before this round runs once; what it queues again waits for the next
// round, after the fds that became ready meanwhile.
void EventLoop::runAgainQueue() {
    IntrusiveList<Resumable, &Resumable::resumeHook> round;
    while (Resumable* next = again_.front()) {
        round.pushBack(*next);
    }
    while (Resumable* next = round.front()) {
        round.remove(*next);
        next->resume();
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
        now_ = Clock::now();
        for (int i = 0; i < count; ++i) {
            auto* handler = static_cast<EventHandler*>(events[i].data.ptr);
            try {
                handler->onEvents(events[i].events);
            } catch (const std::exception& error) {
                handler->onFailure(error);  // the owner closes itself, or rethrows
            }
        }
        runAgainQueue();
        runDeferred();
        fireDueTimers();
        runDeferred();
    }
}

}  // namespace tplab
