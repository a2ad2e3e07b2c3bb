// Keys of the UDP session table and their hash (multiply-xorshift over 64-bit words).
#include "udp_flow_key.hpp"

#include <netinet/in.h>

#include <cstring>

namespace tplab {
namespace {

std::uint64_t mix(std::uint64_t hash, std::uint64_t word) noexcept {
    hash = (hash ^ word) * 0x9E3779B97F4A7C15ULL;
    return hash ^ (hash >> 29);
}

std::uint64_t hashInto(std::uint64_t hash, const UdpEndpointKey& key) noexcept {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    std::memcpy(&high, key.address.data(), 8);
    std::memcpy(&low, key.address.data() + 8, 8);
    hash = mix(hash, high);
    hash = mix(hash, low);
    return mix(hash, (std::uint64_t{key.family} << 16) | key.port);
}

}  // namespace

UdpEndpointKey UdpEndpointKey::from(const Endpoint& endpoint) noexcept {
    UdpEndpointKey key;
    const Endpoint plain = endpoint.isV4Mapped() ? endpoint.unmapped() : endpoint;
    key.family = static_cast<std::uint8_t>(plain.family());
    key.port = plain.port();
    if (plain.isIpv4()) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(plain.sockaddrPtr());
        std::memcpy(key.address.data(), &sin->sin_addr, 4);
    } else if (plain.isIpv6()) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(plain.sockaddrPtr());
        std::memcpy(key.address.data(), &sin6->sin6_addr, 16);
    }
    return key;
}

UdpEndpointKey UdpEndpointKey::withoutPort() const noexcept {
    UdpEndpointKey key = *this;
    key.port = 0;
    return key;
}

std::size_t UdpKeyHash::operator()(const UdpEndpointKey& key) const noexcept {
    return static_cast<std::size_t>(hashInto(seed, key));
}

std::size_t UdpKeyHash::operator()(const UdpFlowKey& key) const noexcept {
    return static_cast<std::size_t>(hashInto(hashInto(seed, key.client), key.destination));
}

}  // namespace tplab
