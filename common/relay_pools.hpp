// Per-worker memory for relaying. Every read goes through one scratch buffer and is sent at
// once; only bytes the receiver could not take yet are parked, in a chunk (copy path) or a pipe
// (splice path) taken from a pool and given back as soon as it drains. An idle connection holds
// neither, so it costs a few hundred bytes, not two 64 KiB buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "fd.hpp"
#include "proxy_stats.hpp"

namespace tplab {

class ChunkPool {
  public:
    static constexpr std::size_t kChunkSize = 64 * 1024;
    using Chunk = std::unique_ptr<char[]>;

    explicit ChunkPool(std::size_t keepIdle = 64) : keepIdle_(keepIdle) {}
    // Never zero-filled: the bytes are overwritten before they are read.
    [[nodiscard]] Chunk acquire();
    void release(Chunk chunk) noexcept;
    // Frees every idle chunk (the worker has nothing in flight).
    void trim() noexcept { idle_.clear(); }
    [[nodiscard]] std::size_t idle() const noexcept { return idle_.size(); }

  private:
    std::size_t keepIdle_;
    std::vector<Chunk> idle_;
};

// A pipe through which splice() moves bytes from one socket to another without copying them
// into userspace. The pool caps how many exist at once (each is two fds); past the cap the copy
// path is used. A pipe holds 64 KiB by default; the pool enlarges up to its `largeBudget` of them
// to kLargePipeBytes, so that one splice() moves up to a whole budget round (measured: 1-stream
// throughput 0.55x -> 0.69x of forwarding, proxy CPU per GB -30%; docs/performance.md). The
// kernel charges a pipe's size to its owner's fs.pipe-user-pages-soft: past that limit an
// unprivileged owner's new pipes get 2 pages, so the budget stays within half of it.
struct Pipe {
    Fd readEnd;
    Fd writeEnd;
    std::size_t capacity = 0;  // bytes; what one splice() into it may move
    bool large = false;        // enlarged: counts against the pool's largeBudget
};

inline constexpr std::size_t kLargePipeBytes = 1024 * 1024;

// How many pipes of kLargePipeBytes the whole proxy may hold at once: half of
// fs.pipe-user-pages-soft (0 there means no limit: then 1024).
std::size_t largePipeBudget();

class PipePool {
  public:
    explicit PipePool(std::size_t maxOpen, std::size_t largeBudget = 16, std::size_t keepIdle = 16)
        : maxOpen_(maxOpen), largeBudget_(largeBudget), keepIdle_(keepIdle) {}
    // An empty pipe, or nullptr when the cap is reached or pipe2() fails.
    [[nodiscard]] std::unique_ptr<Pipe> acquire();
    // `pipe` must be empty to be kept; one with bytes left in it is closed.
    void release(std::unique_ptr<Pipe> pipe, bool empty) noexcept;
    // Closes every idle pipe, so that an idle proxy holds no pipe fds.
    void trim() noexcept;
    [[nodiscard]] std::size_t open() const noexcept { return open_; }
    [[nodiscard]] std::size_t large() const noexcept { return large_; }
    [[nodiscard]] std::size_t idle() const noexcept { return idle_.size(); }

  private:
    std::size_t maxOpen_;
    std::size_t largeBudget_;
    std::size_t keepIdle_;
    std::size_t open_ = 0;
    std::size_t large_ = 0;
    std::vector<std::unique_ptr<Pipe>> idle_;
};

enum class SpliceMode { Never, Auto, Always };

struct RelayResources {
    explicit RelayResources(std::size_t maxPipes, SpliceMode mode = SpliceMode::Auto,
                            std::size_t largePipes = 16)
        : pipes(maxPipes, largePipes), splice(mode), scratch(new char[ChunkPool::kChunkSize]) {}
    ChunkPool chunks;
    PipePool pipes;
    SpliceMode splice;
    std::unique_ptr<char[]> scratch;  // every copy-path read lands here first
    Counter budgetYields;             // times a busy connection stepped aside for others
};

}  // namespace tplab
