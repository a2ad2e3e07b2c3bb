// Lines handed to one writer thread, so that a slow or stalled reader of the output (a pipe
// nobody drains) never blocks the threads that produce them: past a bound, lines are dropped
// and counted instead.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "fd.hpp"

namespace tplab {

class BackgroundLineWriter {
  public:
    // Nothing is written before start(); lines queue up until then.
    BackgroundLineWriter(Fd out, std::size_t maxQueuedBytes,
                         std::chrono::milliseconds closeTimeout);
    ~BackgroundLineWriter();
    BackgroundLineWriter(const BackgroundLineWriter&) = delete;
    BackgroundLineWriter& operator=(const BackgroundLineWriter&) = delete;

    // Starts the writer thread, with every signal blocked in it. Idempotent.
    void start();
    // Thread-safe; never blocks on the output. False when the line was dropped: more than
    // maxQueuedBytes wait already (unless `evenIfFull`), or the writer is closed.
    bool push(std::string line, bool evenIfFull = false);
    // Writes what is queued for up to closeTimeout (counting the rest as dropped) and joins the
    // thread. Idempotent; the destructor calls it.
    void close();
    // Waits until every line queued so far is written (or dropped), up to `timeout`; true if so.
    bool flush(std::chrono::milliseconds timeout);

    [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_.load(); }

  private:
    void run();
    // Writes all of `batch` unless the output fails or the close deadline passes; returns the
    // number of bytes written.
    std::size_t writeBatch(const std::string& batch);
    [[nodiscard]] bool pastCloseDeadline() const;

    Fd out_;
    std::size_t chunk_;  // bytes per write(): small enough not to block once poll() says POLLOUT
    std::size_t maxQueuedBytes_;
    std::chrono::milliseconds closeTimeout_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable drained_;
    bool writing_ = false;  // a batch is out of the queue but not yet written
    std::deque<std::string> queue_;
    std::size_t queuedBytes_ = 0;
    bool closing_ = false;
    std::atomic<std::int64_t> closeDeadline_{0};  // steady_clock ns; 0 while open
    std::atomic<std::uint64_t> dropped_{0};
    std::thread thread_;
    bool closed_ = false;
};

}  // namespace tplab
