// The rule set a transparent proxy needs, as data: every step is the command that makes it so,
// the command that undoes it, and the reason it is there. `tplab rules` prints, applies and
// removes plans; the labs use it so the rules live in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shell_command.hpp"

namespace tplab {

// Anyip and SkLookup are policy routing only: the same ip rules and `local` route; what then
// picks the socket differs (the proxy's listener on each port, or a BPF sk_lookup program).
enum class InterceptMode { Redirect, Dnat, Tproxy, Anyip, SkLookup };
enum class Firewall { Iptables, Nft };

struct RuleSpec {
    InterceptMode mode = InterceptMode::Redirect;
    Firewall firewall = Firewall::Iptables;
    std::uint16_t proxyPort = 0;  // where tplab proxy listens
    bool ipv4 = true;
    bool ipv6 = true;
    bool tcp = true;
    bool udp = false;
    bool local = false;            // also the gateway's own traffic (OUTPUT)
    bool spoofSource = false;      // return path for --spoof-source
    std::uint32_t proxyMark = 2;   // the proxy's SO_MARK (--mark), exempted from interception
    std::uint32_t tproxyMark = 1;  // the fwmark that routes to the local table
    int table = 100;               // the routing table with the `local` route
    std::string inInterface;       // only traffic arriving here ("" = any)
    std::vector<std::uint16_t> destinationPorts;  // only these ports ("" = all)
    std::string dnatAddress4;                     // --mode dnat: the address to DNAT to
    std::string dnatAddress6;
    std::vector<std::string>
        anyipPrefixes;  // anyip, sk-lookup: the prefixes made local (none = all)
};

struct RuleStep {
    std::string why;
    ShellCommand apply;
    std::optional<ShellCommand> isPresent;  // succeeds when the step is already in place
    std::optional<ShellCommand> remove;     // absent for sysctls: --remove restores the saved value
    std::string sysctl;                     // the key, when the step is a sysctl
    std::string nftTable;                   // iptables steps: the nf_tables table iptables-nft uses
};

// Throws std::invalid_argument naming what does not fit (e.g. a proxy mark that overlaps the
// TPROXY mark, UDP with REDIRECT, DNAT without an address, AnyIP without an interface).
std::vector<RuleStep> planRules(const RuleSpec& spec);

// The plan as a commented shell script.
std::string renderPlan(const std::vector<RuleStep>& steps);

}  // namespace tplab
