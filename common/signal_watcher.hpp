// Delivers SIGINT, SIGTERM and SIGUSR1 through the event loop (signalfd); ignores SIGPIPE.
#pragma once

#include <functional>

#include "event_loop.hpp"
#include "fd.hpp"

namespace tplab {

class SignalWatcher : private EventHandler {
  public:
    using Callback = std::function<void(int signal)>;
    SignalWatcher(EventLoop& loop, Callback callback);  // throws std::system_error
    ~SignalWatcher() override;
    SignalWatcher(const SignalWatcher&) = delete;
    SignalWatcher& operator=(const SignalWatcher&) = delete;

  private:
    void onEvents(std::uint32_t events) override;

    EventLoop& loop_;
    Fd fd_;
    Callback callback_;
};

}  // namespace tplab
