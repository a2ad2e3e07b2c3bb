#include "sk_lookup_prefix.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>

namespace tplab {
namespace {

// The text as given, with control characters shown as '?', so a bad value cannot break the line.
std::string shown(std::string_view text) {
    std::string out(text.substr(0, 64));
    std::replace_if(
        out.begin(), out.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }, '?');
    return "'" + out + (text.size() > 64 ? "...'" : "'");
}

// The prefix with its host bits cleared: 198.51.100.0/24 for 198.51.100.7/24.
SteeredPrefix networkOf(const SteeredPrefix& prefix) {
    const unsigned bits = prefix.family == AF_INET6 ? 128 : 32;
    SteeredPrefix network = prefix;
    for (unsigned bit = prefix.length; bit < bits; ++bit) {
        network.address[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    }
    return network;
}

// ::ffff:0:0/96 holds the IPv4-mapped addresses, which a packet never carries: the program sees
// an IPv4 connection as IPv4, even when a dual-stack socket receives it.
bool isIpv4Mapped(const SteeredPrefix& prefix) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return prefix.length >= 96 && std::equal(kMapped, kMapped + 12, prefix.address.begin());
}

}  // namespace

std::string SteeredPrefix::text() const {
    char buffer[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(family, address.data(), buffer, sizeof(buffer));
    return std::string(buffer) + "/" + std::to_string(length);
}

SteeredPrefix parseSteeredPrefix(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        throw std::invalid_argument(shown(text) +
                                    " has no length: give a prefix, e.g. 198.51.100.0/24 or "
                                    "2001:db8::/32");
    }
    const std::string address(text.substr(0, slash));
    const std::string_view length = text.substr(slash + 1);
    SteeredPrefix prefix;
    prefix.family = address.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    const bool v6 = prefix.family == AF_INET6;
    if (::inet_pton(prefix.family, address.c_str(), prefix.address.data()) != 1) {
        throw std::invalid_argument(shown(text) + ": " + shown(address) + " is not an " +
                                    (v6 ? "IPv6" : "IPv4") + " address");
    }
    const unsigned bits = v6 ? 128 : 32;
    const bool digits =
        !length.empty() && length.size() <= 3 &&
        std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoul(std::string(length)) > bits) {
        throw std::invalid_argument(shown(text) + ": the length must be 0-" + std::to_string(bits));
    }
    prefix.length = static_cast<unsigned>(std::stoul(std::string(length)));
    if (const SteeredPrefix network = networkOf(prefix); network != prefix) {
        throw std::invalid_argument(shown(text) + " has host bits set after /" +
                                    std::to_string(prefix.length) + " (the network is " +
                                    network.text() + ")");
    }
    if (v6 && isIpv4Mapped(prefix)) {
        throw std::invalid_argument(shown(text) +
                                    " is IPv4-mapped, which no packet carries: write the IPv4 "
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
