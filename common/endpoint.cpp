// Endpoint parsing and formatting; all byte-order and sockaddr handling lives here.
#include "endpoint.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace tplab {
namespace {

std::uint16_t parsePort(std::string_view text, std::string_view whole) {
    if (text.empty()) {
        throw std::invalid_argument("'" + std::string(whole) +
                                    "' has no port (expected ADDR:PORT)");
    }
    unsigned long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
        throw std::invalid_argument("'" + std::string(whole) + "' has a port that is not a number");
    }
    if (value == 0 || value > 65535) {
        throw std::invalid_argument("'" + std::string(whole) + "' has port " + std::string(text) +
                                    ", outside 1-65535");
    }
    return static_cast<std::uint16_t>(value);
}

}  // namespace

Endpoint::Endpoint() {
    std::memset(&storage_, 0, sizeof(storage_));
}

Endpoint Endpoint::parse(std::string_view text) {
    Endpoint result;
    std::string host;
    std::string_view portText;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) {
            throw std::invalid_argument("'" + std::string(text) +
                                        "' opens '[' but never closes it");
        }
        host = std::string(text.substr(1, close - 1));
        auto rest = text.substr(close + 1);
        if (rest.empty() || rest.front() != ':') {
            throw std::invalid_argument("'" + std::string(text) +
                                        "' has no port (expected [ADDR]:PORT)");
        }
        portText = rest.substr(1);
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&result.storage_);
        if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1) {
            throw std::invalid_argument("'" + host + "' is not an IPv6 address");
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(parsePort(portText, text));
        return result;
    }
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        throw std::invalid_argument("'" + std::string(text) + "' has no port (expected ADDR:PORT)");
    }
    host = std::string(text.substr(0, colon));
    if (host.find(':') != std::string::npos) {
        throw std::invalid_argument("'" + std::string(text) +
                                    "' looks like IPv6: write it as [ADDR]:PORT");
    }
    portText = text.substr(colon + 1);
    auto* sin = reinterpret_cast<sockaddr_in*>(&result.storage_);
    if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) != 1) {
        throw std::invalid_argument("'" + host + "' is not an IPv4 address");
    }
    sin->sin_family = AF_INET;
    sin->sin_port = htons(parsePort(portText, text));
    return result;
}

Endpoint Endpoint::fromSockaddr(const sockaddr* addr, socklen_t length) {
    Endpoint result;
    if (addr != nullptr && length > 0) {
        std::memcpy(&result.storage_, addr, std::min<std::size_t>(length, sizeof(result.storage_)));
    }
    return result;
}

void Endpoint::copyAddressBytes(std::uint8_t* out) const noexcept {
    std::memset(out, 0, 16);
    if (isIpv4()) {
        std::memcpy(out, &storage_.v4.sin_addr, 4);
    } else if (isIpv6()) {
        std::memcpy(out, &storage_.v6.sin6_addr, 16);
    }
}

std::uint16_t Endpoint::port() const noexcept {
    if (isIpv4()) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    }
    if (isIpv6()) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    }
    return 0;
}

bool Endpoint::isWildcard() const noexcept {
    if (isIpv4()) {
        return reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr ==
               htonl(INADDR_ANY);
    }
    if (isIpv6()) {
        return IN6_IS_ADDR_UNSPECIFIED(
            &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
    }
    return false;
}

bool Endpoint::isLoopback() const noexcept {
    if (isIpv4()) {
        auto addr = ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr);
        return (addr >> 24) == 127;
    }
    if (isV4Mapped()) {
        return unmapped().isLoopback();
    }
    if (isIpv6()) {
        return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
    }
    return false;
}

bool Endpoint::isV4Mapped() const noexcept {
    return isIpv6() &&
           IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
}

Endpoint Endpoint::unmapped() const {
    if (!isV4Mapped()) {
        return *this;
    }
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    Endpoint result;
    auto* sin = reinterpret_cast<sockaddr_in*>(&result.storage_);
    sin->sin_family = AF_INET;
    sin->sin_port = sin6->sin6_port;
    std::memcpy(&sin->sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
    return result;
}

Endpoint Endpoint::withPort(std::uint16_t port) const {
    Endpoint result = *this;
    if (isIpv4()) {
        reinterpret_cast<sockaddr_in*>(&result.storage_)->sin_port = htons(port);
    } else if (isIpv6()) {
        reinterpret_cast<sockaddr_in6*>(&result.storage_)->sin6_port = htons(port);
    }
    return result;
}

bool Endpoint::sameAddress(const Endpoint& other) const noexcept {
    Endpoint a = unmapped();
    Endpoint b = other.unmapped();
    if (a.family() != b.family()) {
        return false;
    }
    if (a.isIpv4()) {
        return reinterpret_cast<const sockaddr_in*>(&a.storage_)->sin_addr.s_addr ==
               reinterpret_cast<const sockaddr_in*>(&b.storage_)->sin_addr.s_addr;
    }
    if (a.isIpv6()) {
        return IN6_ARE_ADDR_EQUAL(&reinterpret_cast<const sockaddr_in6*>(&a.storage_)->sin6_addr,
                                  &reinterpret_cast<const sockaddr_in6*>(&b.storage_)->sin6_addr);
    }
    return true;
}

socklen_t Endpoint::length() const noexcept {
    if (isIpv4()) {
        return sizeof(sockaddr_in);
    }
    if (isIpv6()) {
        return sizeof(sockaddr_in6);
    }
    return 0;
}

std::string Endpoint::addressString() const {
    char buffer[INET6_ADDRSTRLEN] = {};
    if (isIpv4()) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buffer,
                  sizeof(buffer));
        return buffer;
    }
    if (isIpv6()) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buffer,
                  sizeof(buffer));
        return buffer;
    }
    return "unspecified";
}

std::string Endpoint::toString() const {
    if (isIpv6()) {
        return "[" + addressString() + "]:" + std::to_string(port());
    }
    if (isIpv4()) {
        return addressString() + ":" + std::to_string(port());
    }
    return "unspecified";
}

bool operator==(const Endpoint& a, const Endpoint& b) noexcept {
    return a.sameAddress(b) && a.port() == b.port();
}

}  // namespace tplab
