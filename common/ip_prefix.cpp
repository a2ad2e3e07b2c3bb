#include "ip_prefix.hpp"

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
IpPrefix networkOf(const IpPrefix& prefix) {
    const unsigned bits = prefix.family == AF_INET6 ? 128 : 32;
    IpPrefix network = prefix;
    for (unsigned bit = prefix.length; bit < bits; ++bit) {
        network.address[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    }
    return network;
}

}  // namespace

std::string IpPrefix::text() const {
    char buffer[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(family, address.data(), buffer, sizeof(buffer));
    return std::string(buffer) + "/" + std::to_string(length);
}

IpPrefix parseIpPrefix(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        throw std::invalid_argument(shown(text) +
                                    " has no length: give a prefix, e.g. 198.51.100.0/24 or "
                                    "2001:db8::/32");
    }
    const std::string address(text.substr(0, slash));
    const std::string_view length = text.substr(slash + 1);
    IpPrefix prefix;
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
    if (const IpPrefix network = networkOf(prefix); network != prefix) {
        throw std::invalid_argument(shown(text) + " has host bits set after /" +
                                    std::to_string(prefix.length) + " (the network is " +
                                    network.text() + ")");
    }
    return prefix;
}

}  // namespace tplab
