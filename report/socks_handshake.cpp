// Reuses the proxy's own parsers (with any credentials accepted), so the report reads the bytes
// exactly as tplab proxy does.
#include "socks_handshake.hpp"

#include "http_connect.hpp"
#include "socks5_protocol.hpp"

namespace tplab {
namespace {

std::string describe(const ProxyRequest& request) {
    if (request.address) {
        return request.address->toString();
    }
    return request.host + ":" + std::to_string(request.port);
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
               (user.empty() ? "" : " (user '" + user + "')");
    }
}

}  // namespace

std::optional<std::string> describeProxyRequest(std::string_view clientBytes) {
    if (!clientBytes.empty() && clientBytes[0] == static_cast<char>(socks5::kVersion)) {
        return describeSocks5(clientBytes);
    }
    HttpConnectHandshake http(std::nullopt);
    HandshakeStep step = http.onClientBytes(clientBytes);
    if (step.status != HandshakeStep::Status::Done) {
        return std::nullopt;
    }
    return "HTTP CONNECT " + describe(step.request);
}

}  // namespace tplab
