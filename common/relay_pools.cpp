// The chunk and pipe pools.
#include "relay_pools.hpp"

#include <fcntl.h>
#include <unistd.h>

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
}

}  // namespace tplab
