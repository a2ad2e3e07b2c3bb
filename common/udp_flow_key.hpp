// Binary, hashable keys for the UDP session table: an address and port, and a (client,
// original destination) flow. Built from sockaddrs without formatting a string per datagram.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "endpoint.hpp"

namespace tplab {

struct UdpEndpointKey {
    std::array<std::uint8_t, 16> address{};  // IPv4 uses the first 4 bytes
    std::uint16_t port = 0;                  // host byte order
    std::uint8_t family = 0;                 // AF_INET or AF_INET6

    // An IPv4-mapped IPv6 endpoint gives the same key as its plain IPv4 form.
    static UdpEndpointKey from(const Endpoint& endpoint) noexcept;
    [[nodiscard]] UdpEndpointKey withoutPort() const noexcept;
    friend bool operator==(const UdpEndpointKey&, const UdpEndpointKey&) = default;
};

struct UdpFlowKey {
    UdpEndpointKey client;
    UdpEndpointKey destination;
    friend bool operator==(const UdpFlowKey&, const UdpFlowKey&) = default;
};

// Seeded, so that a sender choosing ports cannot aim at one hash bucket without knowing the seed.
struct UdpKeyHash {
    std::uint64_t seed = 0;
    std::size_t operator()(const UdpEndpointKey& key) const noexcept;
    std::size_t operator()(const UdpFlowKey& key) const noexcept;
};

}  // namespace tplab
