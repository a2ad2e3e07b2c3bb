// The JSON Lines event stream (--events): one object per line, schema in docs/events.md.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "backend.hpp"
#include "close_reason.hpp"
#include "endpoint.hpp"
#include "fd.hpp"
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

// UTC wall-clock time with milliseconds: "2026-11-25T04:05:40.123Z".
std::string isoTimestampNow();

// Writes each event as one line, adding "time"; a disabled sink costs one branch per event.
class EventSink {
  public:
    EventSink() = default;
    // "-" is stdout; anything else is a file opened for append. Throws std::system_error.
    explicit EventSink(const std::string& path);

    [[nodiscard]] bool enabled() const noexcept { return out_.valid(); }
    void write(Json event);

  private:
    Fd out_;
};

}  // namespace tplab
