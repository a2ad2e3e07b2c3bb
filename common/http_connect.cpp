// The HTTP CONNECT request, parsed only as far as a tunnel needs: method, authority, version,
// and the Proxy-Authorization header.
#include "http_connect.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace tplab {
namespace {

HandshakeStep fail(std::string failure, std::string_view status, std::string_view extra = "") {
    HandshakeStep step;
    step.status = HandshakeStep::Status::Fail;
    step.failure = "HTTP CONNECT: " + std::move(failure);
    step.reply = "HTTP/1.1 " + std::string(status) + "\r\n" + std::string(extra) +
                 "Content-Length: 0\r\nConnection: close\r\n\r\n";
    return step;
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

// The value of header `name` among the lines after the request line, or nullopt.
std::optional<std::string_view> headerValue(std::string_view headers, std::string_view name) {
    while (!headers.empty()) {
        std::size_t end = headers.find("\r\n");
        std::string_view line = headers.substr(0, end);
        std::size_t colon = line.find(':');
        if (colon != std::string_view::npos && equalsIgnoringCase(line.substr(0, colon), name)) {
            return trim(line.substr(colon + 1));
        }
        if (end == std::string_view::npos) {
            break;
        }
        headers.remove_prefix(end + 2);
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> decodeBase64(std::string_view text) {
    // Canonical only: whole groups of four, '=' only as the padding of the last group, and the
    // bits that padding leaves over all zero. Anything else has a second spelling.
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
        ++padding;
    }
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text.substr(0, text.size() - padding)) {
        int value;
        if (c >= 'A' && c <= 'Z') {
            value = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            value = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            value = c - '0' + 52;
        } else if (c == '+') {
            value = 62;
        } else if (c == '/') {
            value = 63;
        } else {
            return std::nullopt;  // including '=' before the end
        }
        buffer = (buffer << 6) | static_cast<unsigned>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xff));
        }
    }
    if ((buffer & ((1u << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

std::optional<ProxyRequest> parseAuthority(std::string_view authority) {
    std::size_t colon = authority.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == authority.size() ||
        authority.size() - colon - 1 > 5) {
        return std::nullopt;
    }
    std::string_view portText = authority.substr(colon + 1);
    unsigned port = 0;
    for (char c : portText) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) {
        return std::nullopt;
    }
    std::string_view host = authority.substr(0, colon);
    ProxyRequest request;
    request.port = static_cast<std::uint16_t>(port);
    bool bracketed = host.front() == '[';
    if (bracketed != (host.back() == ']')) {
        return std::nullopt;
    }
    try {
        request.address = Endpoint::parse(authority);
        return request;
    } catch (const std::invalid_argument&) {
        if (bracketed) {
            return std::nullopt;  // [not an IPv6 address]
        }
    }
    bool nameOk = std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    });
    if (!nameOk || host.size() > 253) {
        return std::nullopt;
    }
    request.host = std::string(host);
    return request;
}

HandshakeStep HttpConnectHandshake::onClientBytes(std::string_view bytes) {
    std::size_t end = bytes.find("\r\n\r\n");
    // Lines end in CRLF (RFC 9112, section 2.2). After a line that ends in a bare LF the
    // CRLF CRLF never comes: answer 400 now rather than wait for the connect timeout.
    std::string_view lines = end == std::string_view::npos ? bytes : bytes.substr(0, end + 2);
    for (std::size_t lf = lines.find('\n'); lf != std::string_view::npos;
         lf = lines.find('\n', lf + 1)) {
        if (lf == 0 || lines[lf - 1] != '\r') {
            return fail("a line ends in LF without CR", "400 Bad Request");
        }
    }
    if (end == std::string_view::npos) {
        if (bytes.size() >= maxMessage()) {
            return fail("no end of headers within " + std::to_string(maxMessage()) + " bytes",
                        "431 Request Header Fields Too Large");
        }
        return {};
    }
    std::string_view head = bytes.substr(0, end);
    std::size_t lineEnd = head.find("\r\n");
    std::string_view requestLine = head.substr(0, lineEnd);
    std::string_view headers =
        lineEnd == std::string_view::npos ? std::string_view() : head.substr(lineEnd + 2);
    std::size_t first = requestLine.find(' ');
    std::size_t second = first == std::string_view::npos ? first : requestLine.find(' ', first + 1);
    if (second == std::string_view::npos) {
        return fail("malformed request line", "400 Bad Request");
    }
    std::string_view method = requestLine.substr(0, first);
    std::string_view target = requestLine.substr(first + 1, second - first - 1);
    std::string_view version = requestLine.substr(second + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        return fail("version '" + std::string(version.substr(0, 16)) + "' is not HTTP/1.x",
                    "505 HTTP Version Not Supported");
    }
    if (method != "CONNECT") {
        return fail(
            "method " + std::string(method.substr(0, 16)) + " is not supported, only CONNECT",
            "405 Method Not Allowed", "Allow: CONNECT\r\n");
    }
    if (credentials_) {
        if (auto refused = checkAuthorization(headers)) {
            return *refused;
        }
    }
    auto request = parseAuthority(target);
    if (!request) {
        return fail("'" + std::string(target.substr(0, 64)) + "' is not HOST:PORT",
                    "400 Bad Request");
    }
    HandshakeStep step;
    step.status = HandshakeStep::Status::Done;
    step.consumed = end + 4;
    step.request = std::move(*request);
    step.auth = credentials_ ? HandshakeStep::Auth::Accepted : HandshakeStep::Auth::None;
    return step;
}

// Exactly "Basic <canonical base64 of user:password>", nothing before or after (but the
// header's surrounding blanks); the user and the password are compared in constant time.
// Malformed credentials are a 400 and count as a failure; none, or another scheme, is a 407.
std::optional<HandshakeStep> HttpConnectHandshake::checkAuthorization(
    std::string_view headers) const {
    auto authorization = headerValue(headers, "Proxy-Authorization");
    if (!authorization) {
        return refusal("no Proxy-Authorization header", HandshakeStep::Auth::None);
    }
    if (authorization->size() < 6 || !equalsIgnoringCase(authorization->substr(0, 6), "Basic ")) {
        return refusal("Proxy-Authorization is not Basic", HandshakeStep::Auth::Refused);
    }
    auto decoded = decodeBase64(authorization->substr(6));
    std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
        auto step = fail("malformed Basic credentials (not canonical base64 of user:password)",
                         "400 Bad Request");
        step.auth = HandshakeStep::Auth::Refused;
        return step;
    }
    std::string_view user = std::string_view(*decoded).substr(0, colon);
    std::string_view password = std::string_view(*decoded).substr(colon + 1);
    bool userMatches = sameSecret(user, credentials_->user);
    bool passwordMatches = sameSecret(password, credentials_->password);
    if (!userMatches || !passwordMatches) {
        return refusal("authentication failed for user '" + std::string(user) + "'",
                       HandshakeStep::Auth::Refused);
    }
    return std::nullopt;
}

HandshakeStep HttpConnectHandshake::refusal(std::string failure, HandshakeStep::Auth auth) {
    auto step = fail(std::move(failure), "407 Proxy Authentication Required",
                     "Proxy-Authenticate: Basic realm=\"tplab\"\r\n");
    step.auth = auth;
    return step;
}

HandshakeStep HttpConnectHandshake::refuseAuthentication(const HandshakeStep& accepted,
                                                         const std::string& why) const {
    auto step = refusal("authentication refused: " + why, HandshakeStep::Auth::Refused);
    step.consumed = accepted.consumed;
    return step;
}

std::string HttpConnectHandshake::connectReply(ConnectOutcome outcome,
                                               const Endpoint& /*bound*/) const {
    switch (outcome) {
        case ConnectOutcome::Succeeded:
            return "HTTP/1.1 200 Connection established\r\n\r\n";
        case ConnectOutcome::NotAllowed:
            return "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        case ConnectOutcome::TimedOut:
            return "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\nConnection: "
                   "close\r\n\r\n";
        default:
            return "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    }
}

}  // namespace tplab
