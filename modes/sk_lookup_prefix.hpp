// sk-lookup's --prefix: the destination prefixes its BPF program steers, parsed into what its
// LPM tries hold (modes/bpf/tplab_sk_lookup.bpf.c, docs/sk-lookup.md).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "ip_prefix.hpp"

namespace tplab {

// The size of each family's prefix trie in the BPF program: prefixes at most, per family.
inline constexpr std::size_t kMaxSteeredPrefixes = 1024;

// One destination prefix: an IPv4 or IPv6 network with no host bits set.
using SteeredPrefix = IpPrefix;

// parseIpPrefix, the parser tplab rules --prefix uses too (so one list serves both commands),
// which also refuses IPv4-mapped prefixes: no packet carries one. Throws std::invalid_argument.
SteeredPrefix parseSteeredPrefix(std::string_view text);

// 0.0.0.0/0 and ::/0: what the program steers when --prefix is not given.
std::vector<SteeredPrefix> everyDestination();

// "198.51.100.0/24, 2001:db8::/32".
std::string describePrefixes(const std::vector<SteeredPrefix>& prefixes);

}  // namespace tplab
