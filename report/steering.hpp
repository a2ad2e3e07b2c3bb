// Which kernel object steered a flow to the proxy: the netfilter rule that intercepted it, the
// policy-routing rule and local route that made its destination this host's, or the BPF
// sk_lookup program attached to the namespace (read from the gateway's snapshots).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tplab {

// One line per steering object for a flow to `port` of the given family, in the order the
// kernel meets them: "nat REDIRECT rule (2 packets)", "ip rule: iif veth-c ipproto tcp dport 80
// lookup 100", "route: local default dev lo table 100", "BPF link 7 (sk_lookup, netns ...) ->
// prog 31 tplab_steer: steered 2". `ruleLines` is rules.txt (iptables-save -c, ip rule, ip -6
// rule, the routes of every table under `### ... ip -4 route ...` headers); `bpf` is bpf.json
// (null when the run has none). Rules for other ports or the other family are left out;
// nothing at all for an explicit proxy's run.
std::vector<std::string> steeringObjects(const std::vector<std::string>& ruleLines,
                                         const nlohmann::ordered_json& bpf, bool ipv6,
                                         std::uint16_t port);

}  // namespace tplab
