// Reuses the proxy's own parsers (with any credentials accepted), so the report reads the bytes
// exactly as tplab proxy does.
#include "socks_handshake.hpp"

#include <arpa/inet.h>

#include <cstdint>

#include "http_connect.hpp"
#include "socks5_protocol.hpp"
#include "text_escape.hpp"

namespace tplab {
namespace {

std::string describe(const ProxyRequest& request) {
    if (request.address) {
        return request.address->toString();
    }
    return escapeForDisplay(request.host) + ":" + std::to_string(request.port);
}

// A server that accepts whatever user it is given: the report wants the request, not a verdict.
std::optional<std::string> describeSocks5(std::string_view bytes) {
    bool offersUserPass =
        bytes.size() >= 2 &&
        bytes.substr(2, static_cast<unsigned char>(bytes[1]))
                .find(static_cast<char>(socks5::kMethodUserPass)) != std::string_view::npos &&
        bytes.substr(2, static_cast<unsigned char>(bytes[1]))
                .find(static_cast<char>(socks5::kMethodNoAuth)) == std::string_view::npos;
    std::optional<Socks5Credentials> anyone;
    std::string user;
    if (offersUserPass) {
        // Take the user and password from the bytes themselves so that the check passes.
        std::size_t at = 2 + static_cast<unsigned char>(bytes[1]);
        if (bytes.size() < at + 2) {
            return std::nullopt;
        }
        std::size_t userLength = static_cast<unsigned char>(bytes[at + 1]);
        if (bytes.size() < at + 3 + userLength) {
            return std::nullopt;
        }
        std::size_t passwordLength = static_cast<unsigned char>(bytes[at + 2 + userLength]);
        user = std::string(bytes.substr(at + 2, userLength));
        anyone =
            Socks5Credentials{user, std::string(bytes.substr(at + 3 + userLength, passwordLength))};
    }
    Socks5ServerHandshake parser(anyone);
    while (true) {
        HandshakeStep step = parser.onClientBytes(bytes);
        if (step.status == HandshakeStep::Status::Reply) {
            bytes.remove_prefix(step.consumed);
            continue;
        }
        if (step.status != HandshakeStep::Status::Done) {
            return std::nullopt;
        }
        return "SOCKS5 CONNECT " + describe(step.request) +
               (user.empty() ? "" : " (user '" + escapeForDisplay(user) + "')");
    }
}

}  // namespace

std::optional<std::string> describeProxyRequest(std::string_view clientBytes) {
    if (!clientBytes.empty() && clientBytes[0] == static_cast<char>(socks5::kVersion)) {
        return describeSocks5(clientBytes);
    }
    // The request line is enough (the report keeps only the first bytes of each packet).
    auto end = clientBytes.find("\r\n");
    if (end == std::string_view::npos) {
        return std::nullopt;
    }
    HttpConnectHandshake http(std::nullopt);
    HandshakeStep step = http.onClientBytes(std::string(clientBytes.substr(0, end)) + "\r\n\r\n");
    if (step.status != HandshakeStep::Status::Done) {
        return std::nullopt;
    }
    return "HTTP CONNECT " + describe(step.request);
}

}  // namespace tplab

namespace tplab {
namespace {

std::uint8_t byteAt(std::string_view bytes, std::size_t at) {
    return static_cast<std::uint8_t>(bytes[at]);
}

std::string hex2(std::uint8_t value) {
    static const char digits[] = "0123456789abcdef";
    return {digits[value >> 4], digits[value & 0x0f]};
}

std::string methodName(std::uint8_t method) {
    switch (method) {
        case socks5::kMethodNoAuth:
            return "00 (no authentication)";
        case 0x01:
            return "01 (GSSAPI)";
        case socks5::kMethodUserPass:
            return "02 (username/password)";
        case socks5::kNoAcceptableMethod:
            return "ff (no acceptable method)";
        default:
            return hex2(method);
    }
}

// The length of ATYP DST.ADDR DST.PORT starting at `at`, or 0 if the bytes stop before its end.
std::size_t socksAddressLength(std::string_view bytes, std::size_t at) {
    if (bytes.size() <= at) {
        return 0;
    }
    std::size_t length = 0;
    switch (byteAt(bytes, at)) {
        case socks5::kAtypIpv4:
            length = 1 + 4 + 2;
            break;
        case socks5::kAtypIpv6:
            length = 1 + 16 + 2;
            break;
        case socks5::kAtypDomain:
            if (bytes.size() <= at + 1) {
                return 0;
            }
            length = 1 + 1 + byteAt(bytes, at + 1) + 2;
            break;
        default:
            return 0;
    }
    return bytes.size() >= at + length ? length : 0;
}

// ATYP DST.ADDR DST.PORT at `at` (complete, see socksAddressLength) as "198.51.100.1:41716".
std::string socksAddressText(std::string_view bytes, std::size_t at) {
    std::uint8_t atyp = byteAt(bytes, at);
    std::string host;
    std::size_t port_at = 0;
    if (atyp == socks5::kAtypDomain) {
        host = escapeForDisplay(bytes.substr(at + 2, byteAt(bytes, at + 1)));
        port_at = at + 2 + byteAt(bytes, at + 1);
    } else {
        bool v6 = atyp == socks5::kAtypIpv6;
        char text[INET6_ADDRSTRLEN] = {};
        inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data() + at + 1, text, sizeof(text));
        host = v6 ? "[" + std::string(text) + "]" : std::string(text);
        port_at = at + 1 + (v6 ? 16 : 4);
    }
    return host + ":" + std::to_string(byteAt(bytes, port_at) << 8 | byteAt(bytes, port_at + 1));
}

// Cuts the next `length` bytes off `stream` into a message; false if the stream is too short.
bool take(std::string_view& stream, std::size_t length, bool fromClient, std::string meaning,
          std::vector<ProxyMessage>& messages) {
    if (length == 0 || stream.size() < length) {
        return false;
    }
    messages.push_back({fromClient, hexBytes(stream.substr(0, length)), std::move(meaning)});
    stream.remove_prefix(length);
    return true;
}

// The method the proxy chose; without its answer, what the proxy's parser would assume.
std::uint8_t chosenMethod(std::string_view client, std::string_view proxy) {
    if (proxy.size() >= 2) {
        return byteAt(proxy, 1);
    }
    std::string_view offered = client.substr(2, byteAt(client, 1));
    bool onlyUserPass =
        offered.find(static_cast<char>(socks5::kMethodUserPass)) != std::string_view::npos &&
        offered.find(static_cast<char>(socks5::kMethodNoAuth)) == std::string_view::npos;
    return onlyUserPass ? socks5::kMethodUserPass : socks5::kMethodNoAuth;
}

// Follows the lock-step exchange with the method the proxy really chose; the request itself is
// read by the proxy's own parser (describeProxyRequest on a no-authentication greeting + it).
ProxyExchange decodeSocks5(std::string_view client, std::string_view proxy) {
    ProxyExchange exchange;
    auto& messages = exchange.messages;
    std::size_t methods = byteAt(client, 1);
    if (client.size() < 2 + methods) {
        return {};
    }
    std::string offered;
    for (std::size_t i = 0; i < methods; ++i) {
        offered += (i ? ", " : "") + methodName(byteAt(client, 2 + i));
    }
    std::uint8_t chosen = chosenMethod(client, proxy);
    take(client, 2 + methods, true, "greeting: VER 5, methods " + offered, messages);
    take(proxy, 2, false, "method " + methodName(chosen), messages);
    if (chosen == socks5::kNoAcceptableMethod) {
        return {};
    }
    std::string user;
    if (chosen == socks5::kMethodUserPass) {
        if (client.size() < 2 || client.size() < 3 + std::size_t{byteAt(client, 1)}) {
            return {};
        }
        std::size_t userLength = byteAt(client, 1);
        user = escapeForDisplay(client.substr(2, userLength));
        if (!take(client, 3 + userLength + byteAt(client, 2 + userLength), true,
                  "username/password (RFC 1929, in clear): user '" + user + "'", messages)) {
            return {};
        }
        if (proxy.size() >= 2) {
            take(proxy, 2, false,
                 byteAt(proxy, 1) == 0 ? "authentication: 00 (success)"
                                       : "authentication: " + hex2(byteAt(proxy, 1)) + " (failure)",
                 messages);
        }
    }
    std::size_t destination = socksAddressLength(client, 3);
    if (destination == 0) {
        return {};
    }
    std::string_view requestBytes = client.substr(0, 3 + destination);
    auto request = describeProxyRequest(std::string("\x05\x01\x00", 3) + std::string(requestBytes));
    if (!request) {
        return {};
    }
    std::string target = request->substr(request->find("CONNECT"));
    exchange.request = *request + (user.empty() ? "" : " (user '" + user + "')");
    take(client, requestBytes.size(), true,
         "CMD " + hex2(byteAt(client, 1)) + " ATYP " + hex2(byteAt(client, 3)) + ": " + target,
         messages);
    if (proxy.size() < 4) {
        return exchange;
    }
    std::size_t address = socksAddressLength(proxy, 3);
    std::uint8_t code = byteAt(proxy, 1);
    std::string meaning = "REP " + hex2(code) + " (" + socks5::replyText(code) + ")";
    if (address != 0) {
        meaning += ", bound " + socksAddressText(proxy, 3);
    }
    take(proxy, 3 + address, false, meaning, messages);
    return exchange;
}

// The text up to the first CRLF, or nullopt if there is none.
std::optional<std::string> firstLine(std::string_view bytes) {
    auto end = bytes.find("\r\n");
    if (end == std::string_view::npos) {
        return std::nullopt;
    }
    return escapeForDisplay(bytes.substr(0, end));
}

ProxyExchange decodeHttpConnect(std::string_view client, std::string_view proxy,
                                const std::string& request) {
    ProxyExchange exchange{request, {}};
    exchange.messages.push_back(
        {true, *firstLine(client), request.substr(request.find("CONNECT"))});
    if (auto status = firstLine(proxy); status && status->rfind("HTTP/", 0) == 0) {
        auto code = status->find(' ');
        std::string number = code == std::string::npos ? "?" : status->substr(code + 1, 3);
        exchange.messages.push_back({false, *status,
                                     number == "200" ? "status 200: the tunnel is open"
                                                     : "status " + number + ": no tunnel"});
    }
    return exchange;
}

}  // namespace

std::string hexBytes(std::string_view bytes) {
    std::string out;
    for (char c : bytes) {
        out += (out.empty() ? "" : " ") + hex2(static_cast<std::uint8_t>(c));
    }
    return out;
}

ProxyExchange decodeProxyHandshake(std::string_view clientBytes, std::string_view proxyBytes) {
    if (clientBytes.size() >= 2 && clientBytes[0] == static_cast<char>(socks5::kVersion)) {
        return decodeSocks5(clientBytes, proxyBytes);
    }
    auto request = describeProxyRequest(clientBytes);
    return request ? decodeHttpConnect(clientBytes, proxyBytes, *request) : ProxyExchange{};
}

}  // namespace tplab
