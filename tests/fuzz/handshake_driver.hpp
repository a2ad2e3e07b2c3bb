// Drives a handshake parser the way tplab proxy's session does: bytes arrive in chunks, each
// step sees what was received and not yet consumed (up to the parser's limit), and the checks
// every fuzz target of a client-reachable parser shares: no step consumes more than it saw, a
// reply always moves on, and what a step says (a failure, a name) makes a valid event and log.
#pragma once

#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "backend.hpp"
#include "endpoint.hpp"
#include "events_json.hpp"
#include "fuzz_input.hpp"
#include "text_escape.hpp"

namespace tplab::fuzz {

// Text a client wrote, as an event field and a log line: valid UTF-8 JSON that gives the
// bytes back, and a log line with no control character.
inline void checkClientText(const std::string& text) {
    std::string line = eventLine(closedEvent(1, CloseReason::HandshakeFailed, 0, 0, 0.0, text));
    fuzzCheck(isValidUtf8(line), "an event line is valid UTF-8");
    fuzzCheck(line.find('\n') == line.size() - 1, "an event is one line");
    Json back = Json::parse(line);
    if (!text.empty()) {
        std::string detail = back["detail"].get<std::string>();
        bool escaped = back.contains("escaped");
        fuzzCheck((escaped ? unescapeBytes(detail) : detail) == text, "the detail round-trips");
    }
    std::string shown = escapeForDisplay(text);
    fuzzCheck(isValidUtf8(shown), "a log line is valid UTF-8");
    fuzzCheck(std::none_of(shown.begin(), shown.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x20; }),
              "a log line has no control character");
}

// Checks a completed request: where to connect is an address, or a name and a port.
inline void checkRequest(const ProxyRequest& request) {
    if (request.address) {
        fuzzCheck(request.address->family() == AF_INET || request.address->family() == AF_INET6,
                  "a requested address is IPv4 or IPv6");
        return;
    }
    fuzzCheck(!request.host.empty(), "a request without an address names a host");
    checkClientText(request.host);
}

// Feeds `stream` in chunks of `chunk` bytes to `step` (a parser's onClientBytes or
// onServerBytes), with at most `limit` bytes in view, until the parser is done or fails or
// the bytes run out. Returns the last step.
inline HandshakeStep driveHandshake(const std::function<HandshakeStep(std::string_view)>& step,
                                    std::string_view stream, std::size_t chunk, std::size_t limit) {
    std::string pending;
    chunk = std::max<std::size_t>(chunk, 1);
    for (int rounds = 0; rounds < 100000; ++rounds) {
        std::string_view view(pending.data(), std::min(pending.size(), limit));
        HandshakeStep result = step(view);
        fuzzCheck(result.consumed <= view.size(), "a step consumes no more than it saw");
        switch (result.status) {
            case HandshakeStep::Status::NeedMore:
                if (stream.empty() || pending.size() > limit) {
                    return result;
                }
                pending.append(stream.substr(0, chunk));
                stream.remove_prefix(std::min(chunk, stream.size()));
                continue;
            case HandshakeStep::Status::Reply:
                fuzzCheck(result.consumed > 0, "a reply consumes its message (else: a loop)");
                pending.erase(0, result.consumed);
                continue;
            case HandshakeStep::Status::Fail:
                fuzzCheck(!result.failure.empty(), "a failure says why");
                checkClientText(result.failure);
                return result;
            case HandshakeStep::Status::Done:
                return result;
        }
    }
    fuzzCheck(false, "a handshake ends");
    return {};
}

// An endpoint from the input: a family flag, 16 address bytes (IPv4 uses 4), a port.
inline Endpoint endpointFrom(FuzzInput& input) {
    bool v6 = input.flag();
    std::uint8_t address[16] = {};
    for (auto& byte : address) {
        byte = input.integral<std::uint8_t>();
    }
    auto port = input.integral<std::uint16_t>();
    if (v6) {
        sockaddr_in6 in6{};
        in6.sin6_family = AF_INET6;
        std::copy(std::begin(address), std::end(address), in6.sin6_addr.s6_addr);
        in6.sin6_port = htons(port);
        return Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&in6), sizeof(in6));
    }
    sockaddr_in in4{};
    in4.sin_family = AF_INET;
    std::copy(address, address + 4, reinterpret_cast<std::uint8_t*>(&in4.sin_addr.s_addr));
    in4.sin_port = htons(port);
    return Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&in4), sizeof(in4));
}

inline constexpr ConnectOutcome kAllOutcomes[] = {
    ConnectOutcome::Succeeded,          ConnectOutcome::Failed,          ConnectOutcome::NotAllowed,
    ConnectOutcome::NetworkUnreachable, ConnectOutcome::HostUnreachable, ConnectOutcome::Refused,
    ConnectOutcome::TimedOut,
};

}  // namespace tplab::fuzz
