// Decodes what a client sent an explicit proxy, for the report: the SOCKS5 greeting and request
// bytes, or an HTTP CONNECT line, in words ("SOCKS5 CONNECT 198.51.100.2:80"), and the whole
// handshake message by message, the proxy's answers included.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tplab {

// The first bytes a client sent on a connection; nullopt when they are not (yet) a complete
// SOCKS5 CONNECT request or an HTTP CONNECT request line.
std::optional<std::string> describeProxyRequest(std::string_view clientBytes);

// One message of an explicit proxy's handshake as it crossed the wire.
struct ProxyMessage {
    bool fromClient = true;
    std::string shown;    // SOCKS5: the bytes in hex; HTTP: the request or status line
    std::string meaning;  // "greeting: VER 5, methods 00 (no authentication)", "CONNECT ..."
};

// An explicit proxy's handshake as the wire carried it.
struct ProxyExchange {
    std::string request;                 // "SOCKS5 CONNECT 198.51.100.2:80", "HTTP CONNECT ..."
    std::vector<ProxyMessage> messages;  // in protocol order; empty: not a handshake
};

// The handshake from the first bytes each side sent (SOCKS5 is lock-step, so the two streams
// interleave message by message), following the method the proxy chose. Empty when the
// client's bytes are not a complete SOCKS5 CONNECT request or HTTP CONNECT request line;
// messages stop where either stream is cut short.
ProxyExchange decodeProxyHandshake(std::string_view clientBytes, std::string_view proxyBytes);

// "05 01 00 01 c6 33 64 02 00 50"
std::string hexBytes(std::string_view bytes);

}  // namespace tplab
