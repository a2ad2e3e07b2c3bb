// The JSON Lines event stream (--events): one object per line, schema in docs/events.md.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "backend.hpp"
#include "close_reason.hpp"
#include "endpoint.hpp"
#include "fd.hpp"
#include "line_writer.hpp"
#include "proxy_stats.hpp"

namespace tplab {

using Json = nlohmann::ordered_json;  // keeps "event" first in each line

Json listeningEvent(std::string_view mode, const Endpoint& listener);
Json acceptedEvent(std::uint64_t id, std::string_view mode, const Endpoint& client,
                   const Endpoint& listener, const Endpoint& local, const DestinationLookup& lookup,
                   std::string_view protocol = "tcp");
Json connectedEvent(std::uint64_t id, const Endpoint& upstreamLocal, const Endpoint& upstreamPeer,
                    double connectMs);
Json closedEvent(std::uint64_t id, CloseReason reason, std::uint64_t clientToUpstream,
                 std::uint64_t upstreamToClient, double durationMs, std::string_view detail,
                 std::string_view protocol = "tcp");
Json statsEvent(std::string_view trigger, const ProxyStats& stats);

// One event as its JSON line (with "\n"), always valid UTF-8: a string that is not (bytes a
// client sent) is written escaped (escapeInvalidUtf8) and its field named in "escaped". A
// non-empty `time` is added last.
std::string eventLine(Json event, std::string_view time = {});

// UTC wall-clock time with milliseconds: "2026-11-25T04:05:40.123Z".
std::string isoTimestampNow();

// Writes each event as one line, adding "time" (and "events_dropped" to `stats` events).
// write() is thread-safe and never blocks on the output: the line goes to a queue that one
// writer thread drains. Past kMaxQueuedBytes (a reader that stopped reading), lines are dropped
// and counted; `stats` lines are always queued. A disabled sink costs one branch per event.
class EventSink {
  public:
    static constexpr std::size_t kMaxQueuedBytes = std::size_t{4} << 20;
    static constexpr std::chrono::milliseconds kCloseTimeout{2000};
    // Later: the writer thread starts at startWriter(), e.g. once privileges are dropped.
    enum class Start { Now, Later };

    EventSink();
    // "-" is stdout; anything else is a private file opened for append (openPrivateAppendFile:
    // UnsafePathError for a path it refuses, std::system_error for other failures).
    explicit EventSink(const std::string& path, Start start = Start::Now);
    EventSink(Fd out, Start start, std::size_t maxQueuedBytes = kMaxQueuedBytes,
              std::chrono::milliseconds closeTimeout = kCloseTimeout);
    EventSink(EventSink&& other) noexcept;
    EventSink& operator=(EventSink&& other) noexcept;
    // Writes what is queued for up to kCloseTimeout, then warns on stderr if lines were dropped.
    ~EventSink();

    [[nodiscard]] bool enabled() const noexcept { return writer_ != nullptr; }
    void write(Json event);
    void startWriter();
    // Waits until what was written so far is out (or dropped), up to `timeout`; for tests and
    // readers of the file in the same process.
    bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Lines dropped so far: the queue was full, or the output failed.
    [[nodiscard]] std::uint64_t dropped() const noexcept;

  private:
    void close() noexcept;
    std::unique_ptr<BackgroundLineWriter> writer_;
};

}  // namespace tplab
