// The writer thread: takes batches from the queue and writes them with poll() + small writes,
// so that it never sleeps in write() and a stalled reader cannot keep it from closing.
#include "line_writer.hpp"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

namespace tplab {
namespace {

constexpr std::size_t kBatchBytes = 64 * 1024;
constexpr int kPollMs = 50;

std::int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

BackgroundLineWriter::BackgroundLineWriter(Fd out, std::size_t maxQueuedBytes,
                                           std::chrono::milliseconds closeTimeout)
    : out_(std::move(out)), maxQueuedBytes_(maxQueuedBytes), closeTimeout_(closeTimeout) {
    // A regular file takes a write of any size without blocking for long. A pipe, a socket or
    // a terminal takes PIPE_BUF bytes once poll() has reported POLLOUT (Linux keeps a free
    // page in the pipe for that); more could block until the reader reads.
    struct stat info {};
    bool regular = ::fstat(out_.get(), &info) == 0 && S_ISREG(info.st_mode);
    chunk_ = regular ? kBatchBytes : PIPE_BUF;
}

BackgroundLineWriter::~BackgroundLineWriter() {
    close();
}

void BackgroundLineWriter::start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable() || closed_) {
        return;
    }
    // The thread inherits this mask: signals stay for the main thread's signalfd.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    thread_ = std::thread([this] { run(); });
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

bool BackgroundLineWriter::push(std::string line, bool evenIfFull) {
    {
        std::lock_guard lock(mutex_);
        if (closing_ || (!evenIfFull && queuedBytes_ + line.size() > maxQueuedBytes_)) {
            ++dropped_;
            return false;
        }
        queuedBytes_ += line.size();
        queue_.push_back(std::move(line));
    }
    wake_.notify_one();
    return true;
}

void BackgroundLineWriter::close() {
    bool runHere = false;
    {
        std::lock_guard lock(mutex_);
        if (closed_) {
            return;
        }
        closed_ = true;
        closing_ = true;
        closeDeadline_ = nowNs() + std::chrono::nanoseconds(closeTimeout_).count();
        runHere = !thread_.joinable();
    }
    wake_.notify_one();
    if (runHere) {
        run();  // never started: flush here, under the same deadline
    } else {
        thread_.join();
    }
}

bool BackgroundLineWriter::flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return drained_.wait_for(lock, timeout, [this] { return queue_.empty() && !writing_; });
}

bool BackgroundLineWriter::pastCloseDeadline() const {
    std::int64_t deadline = closeDeadline_.load();
    return deadline != 0 && nowNs() > deadline;
}

void BackgroundLineWriter::run() {
    std::string batch;
    while (true) {
        std::size_t lines = 0;
        {
            std::unique_lock lock(mutex_);
            writing_ = false;
            drained_.notify_all();
            wake_.wait(lock, [this] { return !queue_.empty() || closing_; });
            if (queue_.empty()) {
                return;
            }
            writing_ = true;
            while (!queue_.empty() &&
                   (batch.empty() || batch.size() + queue_.front().size() <= kBatchBytes)) {
                batch += queue_.front();
                queuedBytes_ -= queue_.front().size();
                queue_.pop_front();
                ++lines;
            }
        }
        std::size_t written = writeBatch(batch);
        if (written < batch.size()) {
            // Lines not written to their end are lost (a closed pipe, a full disk, or the close
            // deadline with a reader that stopped reading).
            auto lost =
                std::count(batch.begin() + static_cast<std::ptrdiff_t>(written), batch.end(), '\n');
            dropped_ += static_cast<std::uint64_t>(lost);
            if (pastCloseDeadline()) {
                std::lock_guard lock(mutex_);
                dropped_ += queue_.size();
                queue_.clear();
                queuedBytes_ = 0;
                writing_ = false;
                drained_.notify_all();
                return;
            }
        }
        batch.clear();
    }
}

std::size_t BackgroundLineWriter::writeBatch(const std::string& batch) {
    std::size_t done = 0;
    while (done < batch.size()) {
        if (pastCloseDeadline()) {
            return done;
        }
        pollfd ready{out_.get(), POLLOUT, 0};
        int n = ::poll(&ready, 1, kPollMs);
        if (n < 0 && errno != EINTR) {
            return done;
        }
        if (n <= 0) {
            continue;
        }
        if ((ready.revents & POLLOUT) == 0) {
            return done;  // POLLERR (the reader closed the pipe), POLLNVAL
        }
        std::size_t size = std::min(chunk_, batch.size() - done);
        if (size < batch.size() - done) {
            // End the chunk at a line end: a write of at most PIPE_BUF bytes to a pipe is atomic,
            // so a reader never sees a torn line, even where the output stops at the deadline.
            auto lineEnd = batch.rfind('\n', done + size - 1);
            if (lineEnd != std::string::npos && lineEnd >= done) {
                size = lineEnd + 1 - done;
            }
        }
        ssize_t wrote = ::write(out_.get(), batch.data() + done, size);
        if (wrote < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return done;  // EPIPE, ENOSPC, EIO: the proxy goes on without its events
        }
        done += static_cast<std::size_t>(wrote);
    }
    return done;
}

}  // namespace tplab
