// PROXY protocol v1 and v2 headers, built from the two endpoints alone.
#include "proxy_protocol.hpp"

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace tplab {
namespace {

// IPv4 as ::ffff:a.b.c.d, so that both ends of a mixed-family connection fit one IPv6 header.
Endpoint asIpv6(const Endpoint& endpoint) {
    if (endpoint.isIpv6()) {
        return endpoint;
    }
    sockaddr_in6 mapped{};
    mapped.sin6_family = AF_INET6;
    mapped.sin6_port = htons(endpoint.port());
    mapped.sin6_addr.s6_addr[10] = 0xff;
    mapped.sin6_addr.s6_addr[11] = 0xff;
    std::uint8_t ipv4[16];  // copyAddressBytes always fills 16 bytes
    endpoint.copyAddressBytes(ipv4);
    std::memcpy(&mapped.sin6_addr.s6_addr[12], ipv4, 4);
    return Endpoint::fromSockaddr(reinterpret_cast<const sockaddr*>(&mapped), sizeof(mapped));
}

void appendPort(std::string& out, std::uint16_t port) {
    out += static_cast<char>(port >> 8);
    out += static_cast<char>(port & 0xff);
}

std::string version1(const Endpoint& client, const Endpoint& destination) {
    return std::string("PROXY ") + (client.isIpv6() ? "TCP6 " : "TCP4 ") + client.addressString() +
           " " + destination.addressString() + " " + std::to_string(client.port()) + " " +
           std::to_string(destination.port()) + "\r\n";
}

std::string version2(const Endpoint& client, const Endpoint& destination) {
    static constexpr std::array<unsigned char, 12> kSignature = {
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
    const bool v6 = client.isIpv6();
    const std::size_t addressBytes = v6 ? 16 : 4;
    std::string out(kSignature.begin(), kSignature.end());
    out += static_cast<char>(0x21);              // version 2, command PROXY
    out += static_cast<char>(v6 ? 0x21 : 0x11);  // AF_INET6 or AF_INET, over STREAM
    appendPort(out, static_cast<std::uint16_t>(2 * addressBytes + 4));  // the length that follows
    std::uint8_t bytes[16];
    client.copyAddressBytes(bytes);
    out.append(reinterpret_cast<const char*>(bytes), addressBytes);
    destination.copyAddressBytes(bytes);
    out.append(reinterpret_cast<const char*>(bytes), addressBytes);
    appendPort(out, client.port());
    appendPort(out, destination.port());
    return out;
}

}  // namespace

std::optional<ProxyProtocolVersion> parseProxyProtocolVersion(std::string_view text) {
    if (text == "v1") {
        return ProxyProtocolVersion::V1;
    }
    if (text == "v2") {
        return ProxyProtocolVersion::V2;
    }
    return std::nullopt;
}

std::string proxyProtocolHeader(ProxyProtocolVersion version, const Endpoint& client,
                                const Endpoint& destination) {
    Endpoint from = client.unmapped();
    Endpoint to = destination.unmapped();
    if (from.family() != to.family()) {
        from = asIpv6(from);
        to = asIpv6(to);
    }
    return version == ProxyProtocolVersion::V1 ? version1(from, to) : version2(from, to);
}

}  // namespace tplab
