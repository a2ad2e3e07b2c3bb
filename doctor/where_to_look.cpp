#include "where_to_look.hpp"

#include <utility>

namespace tplab {
namespace {

// The part of an id after its first dot: the interface of "rp_filter.veth-s".
std::string subject(const std::string& id) {
    auto dot = id.find('.');
    return dot == std::string::npos ? "" : id.substr(dot + 1);
}

// The family of "tproxy.ip_rule.ipv6": "-6" or "-4".
std::string familyFlag(const std::string& id) {
    return id.size() >= 4 && id.compare(id.size() - 4, 4, "ipv6") == 0 ? "-6" : "-4";
}

bool startsWith(const std::string& text, const std::string& prefix) {
    return text.rfind(prefix, 0) == 0;
}

}  // namespace

std::string whereToLook(const Finding& finding) {
    if (finding.fix.empty()) {
        return "";
    }
    const std::string& id = finding.id;
    const std::string ip = "ip " + familyFlag(id);
    if (startsWith(id, "forwarding.")) {
        return "the sysctl in the summary (/proc/sys/net/...), and a capture on the server side: "
               "does a packet that no rule intercepts leave the gateway?";
    }
    if (startsWith(id, "rp_filter.")) {
        return "net.ipv4.conf.all.rp_filter and net.ipv4.conf." + subject(id) +
               ".rp_filter (the kernel uses the larger), the counter TcpExtIPReversePathFilter "
               "(nstat -az), and a capture on " +
               subject(id) + ": the server's replies arrive, then nothing";
    }
    if (startsWith(id, "src_valid_mark.")) {
        return "net.ipv4.conf.all.src_valid_mark and net.ipv4.conf." + subject(id) +
               ".src_valid_mark, and the in_martian_src column of /proc/net/stat/rt_cache";
    }
    if (id == "tproxy.rule") {
        return "the mangle table's PREROUTING chain (iptables -t mangle -L PREROUTING -v -n) or "
               "nft list ruleset: which rule hands the packets to a socket?";
    }
    if (startsWith(id, "tproxy.ip_rule.") || startsWith(id, "tproxy.mark_mismatch.")) {
        return "the mark the TPROXY rule sets (its packet counter grows while nothing arrives) "
               "beside `" +
               ip + " rule show`: fwmark V/M matches when mark & M == V";
    }
    if (startsWith(id, "tproxy.mark.")) {
        return "the nft rule the summary names (nft -a list ruleset) and the ip rules (" + ip +
               " rule show): which statement gives its packets a mark for an fwmark rule to match?";
    }
    if (startsWith(id, "tproxy.local_route.") || startsWith(id, "local_route.")) {
        return "the routing table the ip rule looks up (" + ip +
               " rule show, then its `route show table T`): what makes another host's address "
               "local here?";
    }
    if (startsWith(id, "spoof.return_rule.")) {
        return "the mangle table's PREROUTING chain and a capture on the client side: whose "
               "packets reach the client, the proxy's or the server's?";
    }
    if (startsWith(id, "spoof.conntrack_zone")) {
        return "the raw table's OUTPUT and PREROUTING chains (nft: the `ct zone set` rules), the "
               "proxy's --mark, and conntrack -L under load: is any upstream leg listed with "
               "zone=1 beside the client's own flow of the same 4-tuple?";
    }
    if (id == "capability.net_admin") {
        return "the CapEff line of /proc/self/status (capsh --decode): bit 12 is CAP_NET_ADMIN";
    }
    if (startsWith(id, "kernel.")) {
        return "/proc/net/ip_tables_targets, /proc/net/ip_tables_matches and the modules the "
               "kernel has (lsmod, modinfo " +
               subject(id) + ")";
    }
    if (startsWith(id, "conntrack.")) {
        return "net.netfilter.nf_conntrack_count beside nf_conntrack_max, and the drop and "
               "insert_failed counters of conntrack -S";
    }
    if (startsWith(id, "bridge.")) {
        return "net.bridge.bridge-nf-call-iptables and the packet counters of your rules "
               "(iptables -L -v -n): do bridged frames match them?";
    }
    if (startsWith(id, "sk_lookup.")) {
        return "bpftool link show (type netns, attach_type sk_lookup, this namespace's "
               "netns_ino) and bpftool map dump name tplab_sockets";
    }
    if (startsWith(id, "listener.")) {
        return "ss -ltnp (ss -lunp for UDP): what listens on that port, and which process owns "
               "it?";
    }
    return "the summary names the setting or rule; compare it with docs/doctor.md";
}

}  // namespace tplab
