// signalfd plumbing: the signals are blocked for the process so only the fd sees them.
#include "signal_watcher.hpp"

#include <sys/signalfd.h>

#include <cerrno>
#include <csignal>

#include "result.hpp"

namespace tplab {
namespace {

sigset_t watchedSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    return set;
}

}  // namespace

SignalWatcher::SignalWatcher(EventLoop& loop, Callback callback)
    : loop_(loop), callback_(std::move(callback)) {
    std::signal(SIGPIPE, SIG_IGN);
    sigset_t set = watchedSignals();
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
        throw setupError(errno, "sigprocmask(SIG_BLOCK, {SIGINT, SIGTERM, SIGUSR1})");
    }
    fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd_) {
        throw setupError(errno, "signalfd({SIGINT, SIGTERM, SIGUSR1})");
    }
    loop_.add(fd_.get(), EPOLLIN, this);
}

// The signals stay blocked: unblocking one that is pending would kill the process on its way out.
SignalWatcher::~SignalWatcher() {
    loop_.remove(fd_.get());
}

void SignalWatcher::onEvents(std::uint32_t /*events*/) {
    signalfd_siginfo info{};
    while (::read(fd_.get(), &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
        callback_(static_cast<int>(info.ssi_signo));
    }
}

}  // namespace tplab
