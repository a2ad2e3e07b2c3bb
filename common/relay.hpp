// Moves bytes both ways between a client socket and an upstream socket until both directions
// are done: half-close, reset propagation (after the reset side is drained), bounded
// buffering (one chunk or one pipe per direction at most), splice() for bulk, and a budget
// per round so that a bulk transfer cannot starve the other connections of its loop.
#pragma once

#include <cstdint>
#include <memory>

#include "event_loop.hpp"
#include "fd.hpp"
#include "relay_pools.hpp"

namespace tplab {

enum class RelayEnd {
    Finished,       // FIN each way
    ClientReset,    // the client reset; the upstream was reset too
    UpstreamReset,  // the upstream reset; the client was reset too
    OutOfMemory,    // no memory to park bytes the receiver could not take; both were reset
};

// What the relay tells its owner.
class RelayObserver {
  public:
    virtual ~RelayObserver() = default;
    // The upstream's non-blocking connect() finished: 0, or the errno it failed with.
    virtual void onUpstreamConnect(int error) = 0;
    // Both directions are done, or one side reset (the other side was reset too). The sockets
    // are closed by now.
    virtual void onRelayDone(RelayEnd end, int error) = 0;
    // A relay handler threw `error` (called inside the loop's catch block): the owner closes
    // the connection. The default rethrows.
    virtual void onRelayFailure(const std::exception& error) {
        (void)error;
        throw;
    }
};

class Relay final : private Resumable {
  public:
    // Bytes one direction may move per round before the loop serves the others.
    static constexpr std::size_t kBudgetPerRound = 256 * 1024;
    // A copy-path read this large marks a bulk direction, which then moves by splice().
    static constexpr std::size_t kSpliceThreshold = 16 * 1024;

    Relay(EventLoop& loop, RelayResources& resources, RelayObserver& observer);
    ~Relay() override;
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;

    // Registers the accepted socket. Its readiness is noted; nothing is read before start().
    Status attachClient(Fd client) noexcept;
    // Registers the upstream socket whose non-blocking connect() is under way; the observer
    // hears onUpstreamConnect when it completes.
    Status attachUpstream(Fd upstream) noexcept;
    // Both sockets are connected: relay from now on.
    void start();
    // Resets both sides now (idle timeout, drain deadline, a refused or failed setup).
    // No callback.
    void abort() noexcept;

    [[nodiscard]] int clientFd() const noexcept { return client_.fd.get(); }
    [[nodiscard]] int upstreamFd() const noexcept { return upstream_.fd.get(); }
    [[nodiscard]] std::uint64_t bytesClientToUpstream() const noexcept { return toUpstream_.bytes; }
    [[nodiscard]] std::uint64_t bytesUpstreamToClient() const noexcept { return toClient_.bytes; }
    // Bytes parked in chunks or pipes: at most kChunkSize per direction.
    [[nodiscard]] std::size_t bufferedBytes() const noexcept {
        return toUpstream_.parkedEnd - toUpstream_.parkedBegin + toUpstream_.inPipe +
               toClient_.parkedEnd - toClient_.parkedBegin + toClient_.inPipe;
    }
    // Does it hold a chunk or a pipe? An idle connection holds neither.
    [[nodiscard]] bool holdsBuffers() const noexcept {
        return toUpstream_.parked || toUpstream_.pipe || toClient_.parked || toClient_.pipe;
    }
    [[nodiscard]] Clock::time_point lastActivity() const noexcept { return lastActivity_; }
    [[nodiscard]] bool finished() const noexcept { return finished_; }

  private:
    struct Side final : EventHandler {
        Relay* relay = nullptr;
        Fd fd;
        int resetError = 0;  // the side reset (read or write failed); set once
        bool readable = false;
        bool writable = false;
        bool readEof = false;
        bool writeShut = false;
        bool isClient = false;
        void onEvents(std::uint32_t events) override { relay->onSideEvents(*this, events); }
        void onFailure(const std::exception& error) override {
            relay->observer_.onRelayFailure(error);
        }
    };
    struct Direction {
        Direction(Side& source, Side& sink) : from(source), to(sink) {}
        Side& from;
        Side& to;
        std::uint64_t bytes = 0;
        ChunkPool::Chunk parked;  // bytes `to` did not take yet (copy path)
        std::uint32_t parkedBegin = 0;
        std::uint32_t parkedEnd = 0;
        std::unique_ptr<Pipe> pipe;  // bytes in flight (splice path)
        std::uint32_t inPipe = 0;
        bool bulk = false;  // splice from now on (SpliceMode::Auto)
        [[nodiscard]] bool pending() const noexcept {
            return parkedEnd > parkedBegin || inPipe > 0;
        }
        [[nodiscard]] bool done() const noexcept { return to.writeShut; }
    };
    enum class Step { Idle, Moved, Stopped };

    void onSideEvents(Side& side, std::uint32_t events);
    void resume() override;
    void pump();
    Step transfer(Direction& d, std::size_t& budget);
    bool flush(Direction& d);
    bool readCopy(Direction& d, std::size_t want, std::size_t& got);
    bool readSplice(Direction& d, std::size_t want, std::size_t& got);
    void sideFailed(Side& side, int error);
    void dropPending(Direction& d) noexcept;
    void finish(RelayEnd end, int error);
    [[nodiscard]] bool useSplice(const Direction& d) const noexcept;

    EventLoop& loop_;
    RelayResources& resources_;
    RelayObserver& observer_;
    Side client_;
    Side upstream_;
    Direction toUpstream_{client_, upstream_};
    Direction toClient_{upstream_, client_};
    Clock::time_point lastActivity_;
    bool relaying_ = false;
    bool connectReported_ = false;
    bool finished_ = false;
};

}  // namespace tplab
