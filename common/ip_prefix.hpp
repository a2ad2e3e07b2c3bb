// An IP prefix as the command line gives it ("198.51.100.0/24", "2001:db8::/32"), checked and
// parsed once for every command that takes one: tplab rules --prefix (the local route) and
// tplab proxy --mode sk-lookup --prefix (the BPF program's tries).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace tplab {

// An IPv4 or IPv6 network with no host bits set.
struct IpPrefix {
    int family = 0;                          // AF_INET or AF_INET6
    std::array<std::uint8_t, 16> address{};  // network order; IPv4 in the first four bytes
    unsigned length = 0;                     // 0-32 or 0-128

    [[nodiscard]] std::string text() const;  // "198.51.100.0/24", "2001:db8::/32"
    friend auto operator<=>(const IpPrefix&, const IpPrefix&) = default;
};

// Throws std::invalid_argument with one line naming the problem: no length, not an address, a
// length out of range, host bits set (naming the network).
IpPrefix parseIpPrefix(std::string_view text);

}  // namespace tplab
