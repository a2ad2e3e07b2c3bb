// What `tplab doctor` looks at, read once from the running network namespace: sysctls, rules,
// policy routing, capabilities, kernel features, conntrack usage and the proxy's listeners.
// The checks are pure functions of this snapshot, so they can be tested without root.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kernel_rules.hpp"
#include "sk_lookup_snapshot.hpp"

namespace tplab {

struct ListenerInfo {
    std::string address;              // as ss prints it, e.g. "0.0.0.0:15002", "[::]:15002"
    std::string process;              // "tplab"
    std::optional<bool> transparent;  // IP_TRANSPARENT, when it could be asked
};

struct SystemSnapshot {
    std::map<std::string, std::string> sysctls;  // "net.ipv4.ip_forward" -> "1"; absent if none
    std::vector<std::string> interfaces;  // from /proc/sys/net/ipv4/conf, without all/default
    std::string iptablesRules;            // iptables-save
    std::string ip6tablesRules;           // ip6tables-save
    std::vector<NftRule> nftRules;        // nft -j list ruleset
    std::vector<IpRule> ipRules4;         // ip -4 -j rule
    std::vector<IpRule> ipRules6;         // ip -6 -j rule
    std::map<std::string, std::vector<Route>> routes4;  // table -> ip -4 -j route show table T
    std::map<std::string, std::vector<Route>> routes6;
    bool capNetAdmin = false;
    std::map<std::string, bool> kernelFeatures;  // "xt_TPROXY" -> available
    bool hasBridge = false;                      // a Linux bridge in this namespace
    std::optional<long> conntrackCount;
    std::optional<long> conntrackMax;
    bool conntrackMaxWritable = true;        // false in a network namespace: set from the host only
    long conntrackDrops = 0;                 // packets dropped for want of an entry (all CPUs)
    std::vector<ListenerInfo> tcpListeners;  // on the --port asked about
    std::vector<ListenerInfo> udpListeners;
    std::optional<SkLookupSnapshot> skLookup;  // read only when asked (--mode sk-lookup)
};

// Reads the namespace tplab runs in. `port` 0 skips the listener lookup; `skLookup` reads the
// BPF sk_lookup links and tplab's socket map too.
SystemSnapshot takeSnapshot(int port, bool skLookup = false);

}  // namespace tplab
