// The SOCKS5 messages, byte by byte (RFC 1928 sections 3-6, RFC 1929 section 2).
#include "socks5_protocol.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>

namespace tplab {
namespace socks5 {
namespace {

std::uint8_t byteAt(std::string_view bytes, std::size_t i) {
    return static_cast<std::uint8_t>(bytes[i]);
}

std::string hexByte(std::uint8_t value) {
    static constexpr char kDigits[] = "0123456789abcdef";
    return std::string("0x") + kDigits[value >> 4] + kDigits[value & 0xf];
}

void appendAddress(std::string& out, const Endpoint& address) {
    std::uint8_t bytes[16];
    address.copyAddressBytes(bytes);
    bool v6 = address.isIpv6();
    out.push_back(static_cast<char>(v6 ? kAtypIpv6 : kAtypIpv4));
    out.append(reinterpret_cast<const char*>(bytes), v6 ? 16 : 4);
    out.push_back(static_cast<char>(address.port() >> 8));
    out.push_back(static_cast<char>(address.port() & 0xff));
}

// The length of an address field (ATYP onwards, port included) starting at `at`, or 0 when
// more bytes are needed; -1 for an address type that does not exist.
long addressLength(std::string_view bytes, std::size_t at) {
    if (bytes.size() <= at) {
        return 0;
    }
    switch (byteAt(bytes, at)) {
        case kAtypIpv4:
            return 1 + 4 + 2;
        case kAtypIpv6:
            return 1 + 16 + 2;
        case kAtypDomain:
            return bytes.size() <= at + 1 ? 0 : 1 + 1 + byteAt(bytes, at + 1) + 2;
        default:
            return -1;
    }
}

std::uint16_t portAt(std::string_view bytes, std::size_t at) {
    return static_cast<std::uint16_t>(byteAt(bytes, at) << 8 | byteAt(bytes, at + 1));
}

Endpoint endpointFromBytes(bool v6, const char* address, std::uint16_t port) {
    if (v6) {
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        sa.sin6_port = htons(port);
        std::memcpy(&sa.sin6_addr, address, 16);
        return Endpoint::fromSockaddr(reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    std::memcpy(&sa.sin_addr, address, 4);
    return Endpoint::fromSockaddr(reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
}

HandshakeStep fail(std::string failure, std::string reply = "") {
    HandshakeStep step;
    step.status = HandshakeStep::Status::Fail;
    step.reply = std::move(reply);
    step.failure = "SOCKS5: " + std::move(failure);
    return step;
}

HandshakeStep replyAndGoOn(std::size_t consumed, std::string reply) {
    HandshakeStep step;
    step.status = HandshakeStep::Status::Reply;
    step.consumed = consumed;
    step.reply = std::move(reply);
    return step;
}

}  // namespace

std::string replyText(std::uint8_t code) {
    switch (static_cast<Reply>(code)) {
        case Reply::Succeeded:
            return "succeeded";
        case Reply::GeneralFailure:
            return "general SOCKS server failure";
        case Reply::NotAllowed:
            return "connection not allowed by ruleset";
        case Reply::NetworkUnreachable:
            return "network unreachable";
        case Reply::HostUnreachable:
            return "host unreachable";
        case Reply::ConnectionRefused:
            return "connection refused";
        case Reply::TtlExpired:
            return "TTL expired";
        case Reply::CommandNotSupported:
            return "command not supported";
        case Reply::AddressTypeNotSupported:
            return "address type not supported";
    }
    return "unassigned " + hexByte(code);
}

Reply replyFor(ConnectOutcome outcome) {
    switch (outcome) {
        case ConnectOutcome::Succeeded:
            return Reply::Succeeded;
        case ConnectOutcome::Failed:
            return Reply::GeneralFailure;
        case ConnectOutcome::NotAllowed:
            return Reply::NotAllowed;
        case ConnectOutcome::NetworkUnreachable:
            return Reply::NetworkUnreachable;
        case ConnectOutcome::HostUnreachable:
            return Reply::HostUnreachable;
        case ConnectOutcome::Refused:
            return Reply::ConnectionRefused;
        case ConnectOutcome::TimedOut:
            return Reply::TtlExpired;
    }
    return Reply::GeneralFailure;
}

std::string encodeReply(Reply code, const Endpoint& bound) {
    std::string out{static_cast<char>(kVersion), static_cast<char>(code), 0};
    if (bound.family() == AF_INET || bound.family() == AF_INET6) {
        appendAddress(out, bound.unmapped());
    } else {
        out.append({static_cast<char>(kAtypIpv4), 0, 0, 0, 0, 0, 0});
    }
    return out;
}

std::string encodeConnect(const Endpoint& destination) {
    std::string out{static_cast<char>(kVersion), static_cast<char>(kCmdConnect), 0};
    appendAddress(out, destination.unmapped());
    return out;
}

}  // namespace socks5

bool sameSecret(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    }
    return diff == 0;
}

using namespace socks5;

HandshakeStep Socks5ServerHandshake::onClientBytes(std::string_view bytes) {
    switch (state_) {
        case State::Greeting:
            return greeting(bytes);
        case State::Authentication:
            return authentication(bytes);
        case State::Request:
            return request(bytes);
        case State::Answered:
            break;
    }
    return fail("bytes after the request, before the reply");  // not reached: we stop reading
}

// VER NMETHODS METHODS...
HandshakeStep Socks5ServerHandshake::greeting(std::string_view bytes) {
    if (bytes.empty()) {
        return {};
    }
    if (byteAt(bytes, 0) != kVersion) {
        // A SOCKS4 client (0x04) or another protocol: there is no reply it would understand.
        return fail("greeting has version " + hexByte(byteAt(bytes, 0)) + ", not 0x05");
    }
    if (bytes.size() < 2) {
        return {};
    }
    std::size_t methods = byteAt(bytes, 1);
    std::string noMethod{static_cast<char>(kVersion), static_cast<char>(kNoAcceptableMethod)};
    if (methods == 0) {
        return fail("greeting offers no authentication method", noMethod);
    }
    if (bytes.size() < 2 + methods) {
        return {};
    }
    std::uint8_t wanted = credentials_ ? kMethodUserPass : kMethodNoAuth;
    std::string_view offered = bytes.substr(2, methods);
    if (offered.find(static_cast<char>(wanted)) == std::string_view::npos) {
        return fail(credentials_ ? "client does not offer username/password (method 0x02)"
                                 : "client does not offer no-authentication (method 0x00)",
                    noMethod);
    }
    state_ = credentials_ ? State::Authentication : State::Request;
    return replyAndGoOn(2 + methods, {static_cast<char>(kVersion), static_cast<char>(wanted)});
}

// VER=1 ULEN UNAME PLEN PASSWD (RFC 1929)
HandshakeStep Socks5ServerHandshake::authentication(std::string_view bytes) {
    const std::string refused{0x01, 0x01};
    if (bytes.empty()) {
        return {};
    }
    if (byteAt(bytes, 0) != 0x01) {
        return fail(
            "username/password request has version " + hexByte(byteAt(bytes, 0)) + ", not 0x01",
            refused);
    }
    if (bytes.size() < 2) {
        return {};
    }
    std::size_t userLength = byteAt(bytes, 1);
    if (bytes.size() < 2 + userLength + 1) {
        return {};
    }
    std::size_t passwordLength = byteAt(bytes, 2 + userLength);
    std::size_t total = 2 + userLength + 1 + passwordLength;
    if (bytes.size() < total) {
        return {};
    }
    std::string_view user = bytes.substr(2, userLength);
    std::string_view password = bytes.substr(3 + userLength, passwordLength);
    bool userMatches = sameSecret(user, credentials_->user);
    bool passwordMatches = sameSecret(password, credentials_->password);
    if (!userMatches || !passwordMatches) {
        auto step = fail("authentication failed for user '" + std::string(user) + "'", refused);
        step.consumed = total;
        step.auth = HandshakeStep::Auth::Refused;
        return step;
    }
    state_ = State::Request;
    auto step = replyAndGoOn(total, {0x01, 0x00});
    step.auth = HandshakeStep::Auth::Accepted;
    return step;
}

HandshakeStep Socks5ServerHandshake::refuseAuthentication(const HandshakeStep& accepted,
                                                          const std::string& why) const {
    auto step = fail("authentication refused: " + why, std::string{0x01, 0x01});
    step.consumed = accepted.consumed;
    step.auth = HandshakeStep::Auth::Refused;
    return step;
}

// VER CMD RSV ATYP DST.ADDR DST.PORT
HandshakeStep Socks5ServerHandshake::request(std::string_view bytes) {
    auto failWith = [](Reply code, std::string failure) {
        return fail(std::move(failure), encodeReply(code, Endpoint()));
    };
    if (bytes.empty()) {
        return {};
    }
    if (byteAt(bytes, 0) != kVersion) {
        return failWith(Reply::GeneralFailure,
                        "request has version " + hexByte(byteAt(bytes, 0)) + ", not 0x05");
    }
    if (bytes.size() < 4) {
        return {};
    }
    std::uint8_t command = byteAt(bytes, 1);
    if (command != kCmdConnect) {
        return failWith(Reply::CommandNotSupported, "command " + hexByte(command) +
                                                        (command == 0x02   ? " (BIND)"
                                                         : command == 0x03 ? " (UDP ASSOCIATE)"
                                                                           : "") +
                                                        " is not supported, only CONNECT (0x01)");
    }
    if (byteAt(bytes, 2) != 0) {
        return failWith(Reply::GeneralFailure,
                        "request has reserved byte " + hexByte(byteAt(bytes, 2)) + ", not 0x00");
    }
    long length = addressLength(bytes, 3);
    if (length < 0) {
        return failWith(Reply::AddressTypeNotSupported,
                        "address type " + hexByte(byteAt(bytes, 3)) + " does not exist");
    }
    if (length == 0 || bytes.size() < 3 + static_cast<std::size_t>(length)) {
        return {};
    }
    std::size_t total = 3 + static_cast<std::size_t>(length);
    std::uint16_t port = portAt(bytes, total - 2);
    HandshakeStep step;
    step.status = HandshakeStep::Status::Done;
    step.consumed = total;
    step.request.port = port;
    switch (byteAt(bytes, 3)) {
        case kAtypIpv4:
            step.request.address = endpointFromBytes(false, bytes.data() + 4, port);
            break;
        case kAtypIpv6:
            step.request.address = endpointFromBytes(true, bytes.data() + 4, port);
            break;
        default: {
            std::string_view host = bytes.substr(5, byteAt(bytes, 4));
            if (host.empty() || host.find('\0') != std::string_view::npos) {
                return failWith(Reply::HostUnreachable, "request names an empty or invalid host");
            }
            step.request.host = std::string(host);
        }
    }
    state_ = State::Answered;
    return step;
}

std::string Socks5ServerHandshake::connectReply(ConnectOutcome outcome,
                                                const Endpoint& bound) const {
    return encodeReply(replyFor(outcome),
                       outcome == ConnectOutcome::Succeeded ? bound : Endpoint());
}

std::string Socks5ClientHandshake::greeting() {
    return {static_cast<char>(kVersion), 1, static_cast<char>(kMethodNoAuth)};
}

HandshakeStep Socks5ClientHandshake::onServerBytes(std::string_view bytes) {
    if (!methodChosen_) {
        if (bytes.size() < 2) {
            return {};
        }
        if (byteAt(bytes, 0) != kVersion) {
            return fail("answered version " + hexByte(byteAt(bytes, 0)) + ", not 0x05");
        }
        if (byteAt(bytes, 1) != kMethodNoAuth) {
            return fail("chose method " + hexByte(byteAt(bytes, 1)) +
                        ", not no-authentication (0x00)");
        }
        methodChosen_ = true;
        return replyAndGoOn(2, encodeConnect(destination_));
    }
    if (bytes.size() < 4) {
        return {};
    }
    if (byteAt(bytes, 0) != kVersion) {
        return fail("reply has version " + hexByte(byteAt(bytes, 0)));
    }
    if (byteAt(bytes, 1) != 0) {
        return fail("replied " + hexByte(byteAt(bytes, 1)) + " (" + replyText(byteAt(bytes, 1)) +
                    ") to CONNECT " + destination_.toString());
    }
    long length = addressLength(bytes, 3);
    if (length < 0) {
        return fail("reply has address type " + hexByte(byteAt(bytes, 3)));
    }
    if (length == 0 || bytes.size() < 3 + static_cast<std::size_t>(length)) {
        return {};
    }
    HandshakeStep step;
    step.status = HandshakeStep::Status::Done;
    step.consumed = 3 + static_cast<std::size_t>(length);
    return step;
}

Endpoint parseSocks5Url(std::string_view url) {
    constexpr std::string_view kScheme = "socks5://";
    if (url.substr(0, kScheme.size()) != kScheme) {
        throw std::invalid_argument("'" + std::string(url) +
                                    "' is not socks5://HOST:PORT (the only scheme supported)");
    }
    std::string_view rest = url.substr(kScheme.size());
    if (!rest.empty() && rest.back() == '/') {
        rest.remove_suffix(1);
    }
    if (rest.find('@') != std::string_view::npos) {
        throw std::invalid_argument("'" + std::string(url) +
                                    "': credentials in the URL are not supported (the next "
                                    "proxy must accept no-authentication)");
    }
    try {
        return Endpoint::parse(rest);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("'" + std::string(url) + "': " + e.what() +
                                    " (an IP address and a port: names are not resolved)");
    }
}

}  // namespace tplab
