// Who may use the proxy and where it may connect: --allow-client, --allow-dest, --deny-dest, and
// the default denials of the explicit modes (the gateway itself and host-local services). The
// destination is checked after name resolution, on the address that would be connected to.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "endpoint.hpp"
#include "ip_prefix.hpp"

namespace tplab {

// The addresses this gateway holds (and their subnet broadcasts), kept current by a
// GatewayAddressWatcher; read by every worker, so each call takes a mutex for one lookup.
class GatewayAddresses {
  public:
    using Address = std::array<std::uint8_t, 17>;  // family byte, then 16 address bytes

    static Address addressOf(const Endpoint& endpoint) noexcept;  // IPv4-mapped: as IPv4
    void replaceAll(std::vector<Address> addresses);
    void add(const Address& address);
    void remove(const Address& address);
    [[nodiscard]] bool contains(const Address& address) const;
    [[nodiscard]] std::size_t size() const;

  private:
    mutable std::mutex mutex_;
    std::vector<Address> addresses_;  // sorted
};

struct AccessRules {
    std::vector<IpPrefix> allowClients;  // empty: every client
    std::vector<IpPrefix> allowDest;
    std::vector<IpPrefix> denyDest;
    // Explicit modes: the default denials of every host-local range and of the gateway's own
    // addresses. Transparent modes: loopback and unspecified only.
    bool explicitMode = false;
};

// Why a client or a destination is refused: the rule, as events show it in "refused_by".
struct Refusal {
    std::string rule;    // "default deny: loopback 127.0.0.0/8", "--deny-dest 203.0.113.0/24"
    std::string detail;  // one line for the closed event's detail
};

class AccessPolicy {
  public:
    // `gateway` may be null (no gateway addresses denied); it must outlive the policy.
    AccessPolicy(AccessRules rules, const GatewayAddresses* gateway);

    [[nodiscard]] std::optional<Refusal> checkClient(const Endpoint& client) const;
    [[nodiscard]] std::optional<Refusal> checkDestination(const Endpoint& destination) const;

    // The default denials for a mode, most specific first (docs, tests).
    [[nodiscard]] static std::vector<std::pair<IpPrefix, std::string>> defaultDenials(
        bool explicitMode);

  private:
    struct Rule {
        IpPrefix prefix;
        bool allow = false;
        int origin = 0;  // 0 default, 1 --allow-dest, 2 --deny-dest: the tie-break order
        std::string name;
    };

    AccessRules rules_;
    const GatewayAddresses* gateway_;
    std::vector<Rule> destinationRules_;
};

// Does `prefix` hold `address`? An IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d)
// address is matched as the IPv4 address it carries.
[[nodiscard]] bool prefixContains(const IpPrefix& prefix, const Endpoint& address) noexcept;

}  // namespace tplab
