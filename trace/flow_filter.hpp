// Which packets `tplab trace` traces: protocol, ports, an optional address; and the nft table
// that sets `meta nftrace set 1` for exactly those packets, with a chain at every hook.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tplab {

struct FlowFilter {
    std::string protocol = "tcp";      // "tcp" or "udp"
    std::vector<std::uint16_t> ports;  // 1..4 ports, matched as source or destination port
    std::string host;                  // one IPv4/IPv6 address (source or destination), or empty
    int family = 0;                    // 0 both, 4 or 6
};

// Checks every value that will be written into the nft rule; throws std::invalid_argument
// with one line naming the problem. Normalizes `host` (inet_ntop of inet_pton) and sets
// `family` from it.
void validateFlowFilter(FlowFilter& filter);

// "tcp port 80 or 8080, host 192.0.2.2, IPv4": the filter in words.
std::string describe(const FlowFilter& filter);

// The name of the table tplab trace process `pid` owns: tplab_trace_<pid>.
std::string traceTableName(long pid);

// The pid in a table or instance name made by traceTableName/traceInstanceName, or -1.
long pidFromTraceName(const std::string& name);

// The `nft -f -` script that creates `table inet NAME`: prerouting and output chains that set
// nftrace for the flow, and empty input, forward and postrouting chains that only make each
// hook visible in the trace. All at the lowest priority, so they run first. With
// `followNat`, two more chains (after conntrack) trace every packet of a connection whose
// original destination port is the flow's: only where NAT is in use, since a `ct` expression
// would switch conntrack on in a namespace that did not use it, and change what is traced.
std::string traceTableScript(const FlowFilter& filter, const std::string& table, bool followNat);

// What tplab trace's chains are called, and the hook each sits on.
bool isTraceHookChain(const std::string& chain);

}  // namespace tplab
