#include "sk_lookup_prefix.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>

namespace tplab {
namespace {

// ::ffff:0:0/96 holds the IPv4-mapped addresses, which a packet never carries: the program sees
// an IPv4 connection as IPv4, even when a dual-stack socket receives it.
bool isIpv4Mapped(const SteeredPrefix& prefix) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return prefix.length >= 96 && std::equal(kMapped, kMapped + 12, prefix.address.begin());
}

}  // namespace

SteeredPrefix parseSteeredPrefix(std::string_view text) {
    SteeredPrefix prefix = parseIpPrefix(text);
    if (prefix.family == AF_INET6 && isIpv4Mapped(prefix)) {
        throw std::invalid_argument("'" + prefix.text() +
                                    "' is IPv4-mapped, which no packet carries: write the IPv4 "
                                    "prefix itself");
    }
    return prefix;
}

std::vector<SteeredPrefix> everyDestination() {
    SteeredPrefix v4;
    v4.family = AF_INET;
    SteeredPrefix v6;
    v6.family = AF_INET6;
    return {v4, v6};
}

std::string describePrefixes(const std::vector<SteeredPrefix>& prefixes) {
    std::string text;
    for (const auto& prefix : prefixes) {
        text += (text.empty() ? "" : ", ") + prefix.text();
    }
    return text;
}

}  // namespace tplab
