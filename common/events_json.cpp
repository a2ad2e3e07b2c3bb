// Builders for each event shape, and the sink that writes them as JSON Lines.
#include "events_json.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>

#include "result.hpp"

namespace tplab {

Json listeningEvent(std::string_view mode, const Endpoint& listener) {
    return {{"event", "listening"}, {"mode", mode}, {"listener", listener.toString()}};
}

Json acceptedEvent(std::uint64_t id, std::string_view mode, const Endpoint& client,
                   const Endpoint& listener, const Endpoint& local, const DestinationLookup& lookup,
                   std::string_view protocol) {
    Json event = {
        {"event", "accepted"},           {"id", id},
        {"protocol", protocol},          {"mode", mode},
        {"client", client.toString()},   {"listener", listener.toString()},
        {"local", local.toString()},     {"original_dst", nullptr},
        {"recovered_by", lookup.method},
    };
    if (lookup.destination) {
        event["original_dst"] = lookup.destination->toString();
    }
    if (!lookup.failure.empty()) {
        event["lookup_error"] = lookup.failure;
    }
    return event;
}

Json connectedEvent(std::uint64_t id, const Endpoint& upstreamLocal, const Endpoint& upstreamPeer,
                    double connectMs) {
    return {{"event", "connected"},
            {"id", id},
            {"upstream_local", upstreamLocal.toString()},
            {"upstream_peer", upstreamPeer.toString()},
            {"connect_ms", connectMs}};
}

Json closedEvent(std::uint64_t id, CloseReason reason, std::uint64_t clientToUpstream,
                 std::uint64_t upstreamToClient, double durationMs, std::string_view detail,
                 std::string_view protocol) {
    Json event = {{"event", "closed"},
                  {"id", id},
                  {"protocol", protocol},
                  {"reason", toString(reason)},
                  {"bytes_client_to_upstream", clientToUpstream},
                  {"bytes_upstream_to_client", upstreamToClient},
                  {"duration_ms", durationMs}};
    if (!detail.empty()) {
        event["detail"] = detail;
    }
    return event;
}

Json statsEvent(std::string_view trigger, const ProxyStats& stats) {
    Json closed = Json::object();
    for (auto reason : kAllCloseReasons) {
        closed[std::string(toString(reason))] = stats.closed[static_cast<std::size_t>(reason)];
    }
    return {{"event", "stats"},
            {"trigger", trigger},
            {"accepted", stats.accepted},
            {"active", stats.active},
            {"closed", closed},
            {"bytes_client_to_upstream", stats.bytesClientToUpstream},
            {"bytes_upstream_to_client", stats.bytesUpstreamToClient},
            {"accept_errors", stats.acceptErrors},
            {"accept_paused_at_limit", stats.acceptPausedAtLimit},
            {"udp_datagrams_dropped", stats.udpDatagramsDropped},
            {"udp",
             {{"sessions", stats.udpSessions},
              {"reply_sockets", stats.udpReplySockets},
              {"dropped",
               {{"no_destination", stats.udpDroppedNoDestination},
                {"loop", stats.udpDroppedLoop},
                {"session_error", stats.udpDroppedSessionError}}},
              {"send_errors", stats.udpSendErrors},
              {"evicted",
               {{"client_limit", stats.udpEvictedClientLimit},
                {"table_full", stats.udpEvictedTableFull},
                {"fd_limit", stats.udpEvictedFdLimit}}}}}};
}

std::string isoTimestampNow() {
    auto now = std::chrono::system_clock::now();
    auto seconds = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[40];
    std::size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(text + n, sizeof(text) - n, ".%03dZ", static_cast<int>(ms.count()));
    return text;
}

EventSink::EventSink(const std::string& path) {
    if (path == "-") {
        out_.reset(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0));
        if (!out_) {
            throw setupError(errno, "fcntl(stdout, F_DUPFD_CLOEXEC)");
        }
        return;
    }
    out_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!out_) {
        throw setupError(errno, "open(" + path + ", O_WRONLY|O_CREAT|O_APPEND)");
    }
}

void EventSink::write(Json event) {
    if (!out_) {
        return;
    }
    event["time"] = isoTimestampNow();
    std::string line = event.dump() + "\n";
    const char* data = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(out_.get(), data, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;  // a full disk or a closed pipe must not stop the proxy
        }
        data += n;
        left -= static_cast<std::size_t>(n);
    }
}

}  // namespace tplab
