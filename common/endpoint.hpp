// An IPv4 or IPv6 address plus port: parsing "ADDR:PORT" / "[ADDR]:PORT", formatting, sockaddr
// views.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace tplab {

class Endpoint {
  public:
    Endpoint();

    // Parses "192.0.2.1:80", "[2001:db8::1]:80", "0.0.0.0:15001", "[::]:15001".
    // Throws std::invalid_argument with a message naming what is wrong.
    static Endpoint parse(std::string_view text);
    static Endpoint fromSockaddr(const sockaddr* addr, socklen_t length);

    [[nodiscard]] int family() const noexcept { return storage_.family; }
    [[nodiscard]] bool isIpv4() const noexcept { return family() == AF_INET; }
    [[nodiscard]] bool isIpv6() const noexcept { return family() == AF_INET6; }
    [[nodiscard]] std::uint16_t port() const noexcept;
    [[nodiscard]] bool isWildcard() const noexcept;
    [[nodiscard]] bool isLoopback() const noexcept;
    // True for ::ffff:a.b.c.d, which is how an IPv4 peer shows up on a dual-stack socket.
    [[nodiscard]] bool isV4Mapped() const noexcept;
    // The plain IPv4 endpoint behind an IPv4-mapped one; any other endpoint is returned as is.
    [[nodiscard]] Endpoint unmapped() const;
    [[nodiscard]] Endpoint withPort(std::uint16_t port) const;
    [[nodiscard]] bool sameAddress(const Endpoint& other) const noexcept;
    // The address's 4 (IPv4) or 16 (IPv6) bytes into `out`, which has room for 16; the rest of
    // those 16 bytes is zeroed.
    void copyAddressBytes(std::uint8_t* out) const noexcept;

    [[nodiscard]] const sockaddr* sockaddrPtr() const noexcept {
        return reinterpret_cast<const sockaddr*>(&storage_);
    }
    [[nodiscard]] socklen_t length() const noexcept;
    [[nodiscard]] std::string addressString() const;
    // "192.0.2.1:80" or "[2001:db8::1]:80".
    [[nodiscard]] std::string toString() const;

    friend bool operator==(const Endpoint& a, const Endpoint& b) noexcept;

  private:
    // 28 bytes rather than sockaddr_storage's 128: every connection keeps a few of these.
    union Storage {
        sockaddr_in v4;
        sockaddr_in6 v6;
        sa_family_t family;
    } storage_;
};

}  // namespace tplab
