// The rules of access_policy.hpp: longest prefix wins; on a tie --deny-dest beats --allow-dest,
// which beats a default denial.
#include "access_policy.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace tplab {
namespace {

IpPrefix prefixOf(const char* text) {
    return parseIpPrefix(text);
}

// The address bytes to match and their family: IPv4-mapped and IPv4-compatible IPv6 addresses
// as the IPv4 address they carry (:: and ::1 stay IPv6: unspecified and loopback).
int matchBytes(const Endpoint& endpoint, std::uint8_t* out) noexcept {
    const Endpoint plain = endpoint.unmapped();
    plain.copyAddressBytes(out);
    if (!plain.isIpv6()) {
        return plain.family();
    }
    static constexpr std::uint8_t kZero[12] = {};
    const bool compatible =
        std::memcmp(out, kZero, 12) == 0 && (out[12] | out[13] | out[14] | (out[15] & 0xfe)) != 0;
    if (compatible) {
        std::memmove(out, out + 12, 4);
        std::memset(out + 4, 0, 12);
        return AF_INET;
    }
    return AF_INET6;
}

bool holds(const IpPrefix& prefix, int family, const std::uint8_t* bytes) noexcept {
    if (prefix.family != family) {
        return false;
    }
    const unsigned whole = prefix.length / 8;
    if (std::memcmp(prefix.address.data(), bytes, whole) != 0) {
        return false;
    }
    const unsigned rest = prefix.length % 8;
    if (rest == 0) {
        return true;
    }
    const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
    return (prefix.address[whole] & mask) == (bytes[whole] & mask);
}

// A user prefix inside ::ffff:0:0/96 is the IPv4 prefix it carries, so that it matches the
// destinations it names (which are matched as IPv4).
IpPrefix normalized(const IpPrefix& prefix) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (prefix.family != AF_INET6 || prefix.length < 96 ||
        std::memcmp(prefix.address.data(), kMapped, 12) != 0) {
        return prefix;
    }
    IpPrefix v4;
    v4.family = AF_INET;
    std::memcpy(v4.address.data(), prefix.address.data() + 12, 4);
    v4.length = prefix.length - 96;
    return v4;
}

std::string joined(const std::vector<IpPrefix>& prefixes) {
    std::string text;
    for (const auto& prefix : prefixes) {
        text += (text.empty() ? "" : ", ") + prefix.text();
    }
    return text;
}

}  // namespace

GatewayAddresses::Address GatewayAddresses::addressOf(const Endpoint& endpoint) noexcept {
    Address address{};
    address[0] = static_cast<std::uint8_t>(matchBytes(endpoint, address.data() + 1));
    return address;
}

void GatewayAddresses::replaceAll(std::vector<Address> addresses) {
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    std::lock_guard lock(mutex_);
    addresses_ = std::move(addresses);
}

void GatewayAddresses::add(const Address& address) {
    std::lock_guard lock(mutex_);
    auto at = std::lower_bound(addresses_.begin(), addresses_.end(), address);
    if (at == addresses_.end() || *at != address) {
        addresses_.insert(at, address);
    }
}

void GatewayAddresses::remove(const Address& address) {
    std::lock_guard lock(mutex_);
    auto at = std::lower_bound(addresses_.begin(), addresses_.end(), address);
    if (at != addresses_.end() && *at == address) {
        addresses_.erase(at);
    }
}

bool GatewayAddresses::contains(const Address& address) const {
    std::lock_guard lock(mutex_);
    return std::binary_search(addresses_.begin(), addresses_.end(), address);
}

std::size_t GatewayAddresses::size() const {
    std::lock_guard lock(mutex_);
    return addresses_.size();
}

std::vector<std::pair<IpPrefix, std::string>> AccessPolicy::defaultDenials(bool explicitMode) {
    if (!explicitMode) {
        // A legitimate client never sends these on the wire (the kernel drops them as
        // martians), but REDIRECT rewrites the destination before that check, so a neighbour
        // could otherwise reach the gateway's loopback-only services through the proxy.
        return {{prefixOf("127.0.0.0/8"), "loopback"},
                {prefixOf("0.0.0.0/8"), "unspecified"},
                {prefixOf("::1/128"), "loopback"},
                {prefixOf("::/128"), "unspecified"}};
    }
    return {{prefixOf("127.0.0.0/8"), "loopback"},
            {prefixOf("0.0.0.0/8"), "unspecified"},
            {prefixOf("169.254.0.0/16"), "link-local"},
            {prefixOf("224.0.0.0/4"), "multicast"},
            {prefixOf("255.255.255.255/32"), "broadcast"},
            {prefixOf("::1/128"), "loopback"},
            {prefixOf("::/128"), "unspecified"},
            {prefixOf("fe80::/10"), "link-local"},
            {prefixOf("ff00::/8"), "multicast"}};
}

AccessPolicy::AccessPolicy(AccessRules rules, const GatewayAddresses* gateway)
    : rules_(std::move(rules)), gateway_(rules_.explicitMode ? gateway : nullptr) {
    for (auto& prefix : rules_.allowClients) {
        prefix = normalized(prefix);
    }
    for (auto& [prefix, what] : defaultDenials(rules_.explicitMode)) {
        destinationRules_.push_back(
            {prefix, false, 0, "default deny: " + what + " " + prefix.text()});
    }
    for (const auto& prefix : rules_.allowDest) {
        destinationRules_.push_back({normalized(prefix), true, 1, "--allow-dest " + prefix.text()});
    }
    for (const auto& prefix : rules_.denyDest) {
        destinationRules_.push_back({normalized(prefix), false, 2, "--deny-dest " + prefix.text()});
    }
}

std::optional<Refusal> AccessPolicy::checkClient(const Endpoint& client) const {
    if (rules_.allowClients.empty()) {
        return std::nullopt;
    }
    std::uint8_t bytes[16];
    const int family = matchBytes(client, bytes);
    for (const auto& prefix : rules_.allowClients) {
        if (holds(prefix, family, bytes)) {
            return std::nullopt;
        }
    }
    return Refusal{"--allow-client", "client " + client.unmapped().addressString() +
                                         " is in no --allow-client prefix (" +
                                         joined(rules_.allowClients) + ")"};
}

std::optional<Refusal> AccessPolicy::checkDestination(const Endpoint& destination) const {
    std::uint8_t bytes[16];
    const int family = matchBytes(destination, bytes);
    const Rule* best = nullptr;
    bool inDefaultRange = false;  // then that range's rule governs, not the gateway's table
    for (const auto& rule : destinationRules_) {
        if (!holds(rule.prefix, family, bytes)) {
            continue;
        }
        inDefaultRange = inDefaultRange || rule.origin == 0;
        if (best == nullptr || rule.prefix.length > best->prefix.length ||
            (rule.prefix.length == best->prefix.length && rule.origin > best->origin)) {
            best = &rule;
        }
    }
    const unsigned full = family == AF_INET ? 32 : 128;
    const bool userHost = best != nullptr && best->origin != 0 && best->prefix.length == full;
    std::string what = "destination " + destination.unmapped().toString();
    if (!userHost && !inDefaultRange && gateway_ != nullptr &&
        gateway_->contains(GatewayAddresses::addressOf(destination))) {
        IpPrefix host;
        host.family = family;
        std::copy(bytes, bytes + 16, host.address.begin());
        host.length = full;
        return Refusal{
            "default deny: address of this gateway " + host.text(),
            what + " is an address of this gateway (--allow-dest " + host.text() + " opens it)"};
    }
    if (best == nullptr || best->allow) {
        return std::nullopt;
    }
    return Refusal{best->name, what + " refused by " + best->name};
}

bool prefixContains(const IpPrefix& prefix, const Endpoint& address) noexcept {
    std::uint8_t bytes[16];
    const int family = matchBytes(address, bytes);
    return holds(normalized(prefix), family, bytes);
}

}  // namespace tplab
