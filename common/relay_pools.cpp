// The chunk and pipe pools.
#include "relay_pools.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

namespace tplab {

ChunkPool::Chunk ChunkPool::acquire() {
    if (!idle_.empty()) {
        Chunk chunk = std::move(idle_.back());
        idle_.pop_back();
        return chunk;
    }
    return Chunk(new char[kChunkSize]);  // NOLINT: uninitialised on purpose
}

void ChunkPool::release(Chunk chunk) noexcept {
    if (chunk && idle_.size() < keepIdle_) {
        try {
            idle_.push_back(std::move(chunk));
        } catch (...) {  // no room to remember it: let it go
        }
    }
}

std::unique_ptr<Pipe> PipePool::acquire() {
    if (!idle_.empty()) {
        auto pipe = std::move(idle_.back());
        idle_.pop_back();
        return pipe;
    }
    if (open_ >= maxOpen_) {
        return nullptr;
    }
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        return nullptr;
    }
    auto pipe = std::make_unique<Pipe>();
    pipe->readEnd.reset(fds[0]);
    pipe->writeEnd.reset(fds[1]);
    long capacity = -1;
    if (large_ < largeBudget_) {
        // EPERM past fs.pipe-max-size or the user's page limit (unprivileged): keep the default.
        capacity = ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(kLargePipeBytes));
        pipe->large = capacity > 0;
        large_ += pipe->large ? 1 : 0;
    }
    if (capacity <= 0) {
        capacity = ::fcntl(fds[1], F_GETPIPE_SZ);
    }
    pipe->capacity = capacity > 0 ? static_cast<std::size_t>(capacity) : 64 * 1024;
    ++open_;
    return pipe;
}

void PipePool::release(std::unique_ptr<Pipe> pipe, bool empty) noexcept {
    if (!pipe) {
        return;
    }
    if (empty && idle_.size() < keepIdle_) {
        try {
            idle_.push_back(std::move(pipe));
            return;
        } catch (...) {
        }
    }
    --open_;
    large_ -= pipe->large ? 1 : 0;
}

void PipePool::trim() noexcept {
    for (const auto& pipe : idle_) {
        large_ -= pipe->large ? 1 : 0;
    }
    open_ -= idle_.size();
    idle_.clear();
}

std::size_t largePipeBudget() {
    std::ifstream limit("/proc/sys/fs/pipe-user-pages-soft");
    long pages = -1;
    if (!(limit >> pages) || pages < 0) {
        return 16;
    }
    if (pages == 0) {
        return 1024;
    }
    auto pageSize = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return static_cast<std::size_t>(pages) / 2 / (kLargePipeBytes / pageSize);
}

}  // namespace tplab
