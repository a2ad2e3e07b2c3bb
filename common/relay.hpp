// Moves bytes both ways between two connected sockets until both directions are done,
// with half-close, reset propagation and a bounded buffer per direction (backpressure).
#pragma once

#include <cstdint>
#include <functional>

#include "byte_buffer.hpp"
#include "event_loop.hpp"
#include "fd.hpp"

namespace tplab {

enum class RelayEnd { Finished, ClientReset, UpstreamReset };

class Relay {
  public:
    static constexpr std::size_t kBufferSize = 64 * 1024;
    using DoneCallback = std::function<void(RelayEnd end, int error)>;

    // Takes both sockets (connected, non-blocking) and registers them with the loop.
    // `onDone` runs once, after the sockets have been closed (or reset, on a reset).
    Relay(EventLoop& loop, Fd client, Fd upstream, DoneCallback onDone);
    ~Relay();
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;

    // Resets both sides now (idle timeout, drain deadline). Does not call onDone.
    void abort() noexcept;

    [[nodiscard]] std::uint64_t bytesClientToUpstream() const noexcept { return toUpstream_.bytes; }
    [[nodiscard]] std::uint64_t bytesUpstreamToClient() const noexcept { return toClient_.bytes; }
    [[nodiscard]] std::size_t bufferedBytes() const noexcept {
        return toUpstream_.buffer.size() + toClient_.buffer.size();
    }
    [[nodiscard]] Clock::time_point lastActivity() const noexcept { return lastActivity_; }
    [[nodiscard]] bool finished() const noexcept { return finished_; }

  private:
    struct Side : EventHandler {
        Relay* relay = nullptr;
        Fd fd;
        bool readable = false;
        bool writable = false;
        bool readEof = false;
        bool writeShut = false;
        RelayEnd resetMeans = RelayEnd::Finished;
        void onEvents(std::uint32_t events) override { relay->onSideEvents(*this, events); }
    };
    // One direction of the relay. A zero-copy variant (splice through a pipe) would replace
    // this struct and transfer(); nothing outside this class would change.
    struct Direction {
        Side& from;
        Side& to;
        ByteBuffer buffer{kBufferSize};
        std::uint64_t bytes = 0;
        [[nodiscard]] bool done() const noexcept { return to.writeShut; }
    };

    void onSideEvents(Side& side, std::uint32_t events);
    void pump();
    bool transfer(Direction& direction);
    void finish(RelayEnd end, int error);
    void unregister() noexcept;

    EventLoop& loop_;
    Side client_;
    Side upstream_;
    Direction toUpstream_{client_, upstream_};
    Direction toClient_{upstream_, client_};
    DoneCallback onDone_;
    Clock::time_point lastActivity_ = Clock::now();
    bool finished_ = false;
};

}  // namespace tplab
