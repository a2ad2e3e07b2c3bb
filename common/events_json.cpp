// Builders for each event shape, and the sink that writes them as JSON Lines.
#include "events_json.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>

#include "log.hpp"
#include "private_file.hpp"
#include "result.hpp"
#include "text_escape.hpp"

namespace tplab {
namespace {

// Replaces each string that is not valid UTF-8 (bytes a client sent: a SOCKS5 name, a user
// name, an HTTP request line in a `detail`) by its escapeInvalidUtf8 form, and names it in
// `escaped` ("detail", "udp.dropped" for a nested one). JSON text must be UTF-8: without this,
// dump() throws on the first stray byte.
bool escapeString(Json& value) {
    auto& text = value.get_ref<std::string&>();
    if (isValidUtf8(text)) {
        return false;
    }
    text = escapeInvalidUtf8(text);
    return true;
}

void escapeStrings(Json& value, const std::string& path, Json& escaped) {
    auto name = [&](const std::string& child) { return path.empty() ? child : path + "." + child; };
    if (value.is_object()) {
        for (auto& [key, member] : value.items()) {
            if (member.is_string() ? escapeString(member) : false) {
                escaped.push_back(name(key));
            } else if (member.is_structured()) {
                escapeStrings(member, name(key), escaped);
            }
        }
    } else if (value.is_array()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            std::string index = path + "[" + std::to_string(i) + "]";
            if (value[i].is_string() ? escapeString(value[i]) : false) {
                escaped.push_back(index);
            } else if (value[i].is_structured()) {
                escapeStrings(value[i], index, escaped);
            }
        }
    }
}

}  // namespace

std::string eventLine(Json event, std::string_view time) {
    Json escaped = Json::array();
    escapeStrings(event, "", escaped);
    if (!escaped.empty()) {
        event["escaped"] = std::move(escaped);
    }
    if (!time.empty()) {
        event["time"] = time;
    }
    // Keys are ours (ASCII); `replace` only guards against a bug here never becoming a throw.
    return event.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

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
            {"upstream_fd_shortages", stats.upstreamFdShortages},
            {"budget_yields", stats.budgetYields},
            {"udp_datagrams_dropped", stats.udpDatagramsDropped},
            {"udp",
             {{"sessions", stats.udpSessions},
              {"reply_sockets", stats.udpReplySockets},
              {"dropped",
               {{"no_destination", stats.udpDroppedNoDestination},
                {"loop", stats.udpDroppedLoop},
                {"session_error", stats.udpDroppedSessionError},
                {"not_allowed", stats.udpDroppedNotAllowed}}},
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

EventSink::EventSink() = default;

EventSink::EventSink(const std::string& path, Start start) {
    Fd out;
    if (path == "-") {
        out.reset(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0));
        if (!out) {
            throw setupError(errno, "fcntl(stdout, F_DUPFD_CLOEXEC)");
        }
    } else {
        out = openPrivateAppendFile(path, "--events");
    }
    *this = EventSink(std::move(out), start);
}

EventSink::EventSink(Fd out, Start start, std::size_t maxQueuedBytes,
                     std::chrono::milliseconds closeTimeout)
    : writer_(
          std::make_unique<BackgroundLineWriter>(std::move(out), maxQueuedBytes, closeTimeout)) {
    if (start == Start::Now) {
        writer_->start();
    }
}

EventSink::EventSink(EventSink&& other) noexcept = default;

EventSink& EventSink::operator=(EventSink&& other) noexcept {
    if (this != &other) {
        close();
        writer_ = std::move(other.writer_);
    }
    return *this;
}

EventSink::~EventSink() {
    close();
}

void EventSink::close() noexcept {
    if (!writer_) {
        return;
    }
    writer_->close();
    if (auto lost = writer_->dropped(); lost > 0) {
        log::warn("--events: " + std::to_string(lost) +
                  " event line(s) dropped: the reader did not keep up, or the output failed");
    }
    writer_.reset();
}

void EventSink::startWriter() {
    if (writer_) {
        writer_->start();
    }
}

bool EventSink::flush(std::chrono::milliseconds timeout) {
    return !writer_ || writer_->flush(timeout);
}

std::uint64_t EventSink::dropped() const noexcept {
    return writer_ ? writer_->dropped() : 0;
}

void EventSink::write(Json event) {
    if (!writer_) {
        return;
    }
    auto kind = event.find("event");
    bool isStats = kind != event.end() && *kind == "stats";
    if (isStats) {
        event["events_dropped"] = writer_->dropped();
    }
    writer_->push(eventLine(std::move(event), isoTimestampNow()), isStats);
}

}  // namespace tplab
