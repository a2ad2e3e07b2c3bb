// Test support: connected TCP pairs on 127.0.0.1 and a loop runner with a bounded lifetime.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "event_loop.hpp"
#include "fd.hpp"

namespace tplab::test {

// A connected TCP pair on loopback: `testEnd` is blocking (the test drives it), `relayEnd` is
// non-blocking (for the code under test).
struct TcpPair {
    Fd testEnd;
    Fd relayEnd;
};
TcpPair makeLoopbackPair();

// Runs an EventLoop on a thread until stop() or `limit`, whichever comes first.
class LoopThread {
  public:
    explicit LoopThread(EventLoop& loop,
                        std::chrono::milliseconds limit = std::chrono::seconds(60));
    ~LoopThread();
    void stop() { stopRequested_ = true; }
    void join();

  private:
    void poll();
    EventLoop& loop_;
    std::atomic<bool> stopRequested_{false};
    std::chrono::steady_clock::time_point deadline_;
    std::thread thread_;
};

void sendAll(int fd, const std::string& data);
std::string receiveUntilEof(int fd);
// recv() once with a timeout; returns the errno of a failed recv, 0 for EOF, -1 for data.
int receiveOutcome(int fd, int timeoutMs);
void setLingerReset(int fd);

}  // namespace tplab::test
