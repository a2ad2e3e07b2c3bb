// sk-lookup's --prefix: the destination prefixes its BPF program steers, parsed into what its
// LPM tries hold (modes/bpf/tplab_sk_lookup.bpf.c, docs/sk-lookup.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tplab {

// The size of each family's prefix trie in the BPF program: prefixes at most, per family.
inline constexpr std::size_t kMaxSteeredPrefixes = 1024;

// One destination prefix: an IPv4 or IPv6 network with no host bits set.
struct SteeredPrefix {
    int family = 0;                          // AF_INET or AF_INET6
    std::array<std::uint8_t, 16> address{};  // network order; IPv4 in the first four bytes
    unsigned length = 0;                     // 0-32 or 0-128

    [[nodiscard]] std::string text() const;  // "198.51.100.0/24", "2001:db8::/32"
    friend auto operator<=>(const SteeredPrefix&, const SteeredPrefix&) = default;
};

// "198.51.100.0/24" or "2001:db8::/32". The same values `tplab rules --prefix` accepts, so one
// list serves both commands. Throws std::invalid_argument with one line naming the problem.
SteeredPrefix parseSteeredPrefix(std::string_view text);

// 0.0.0.0/0 and ::/0: what the program steers when --prefix is not given.
std::vector<SteeredPrefix> everyDestination();

// "198.51.100.0/24, 2001:db8::/32".
std::string describePrefixes(const std::vector<SteeredPrefix>& prefixes);

}  // namespace tplab
