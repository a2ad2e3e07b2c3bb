// The flow filter: validated values only, then written into nft rules.
#include "flow_filter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <stdexcept>

namespace tplab {

namespace {

const char* kHooks[] = {"prerouting", "input", "forward", "output", "postrouting"};
constexpr const char* kFirstPriority = "-2147483648";  // NF_IP_PRI_FIRST: before raw (-300)

std::string portSet(const std::vector<std::uint16_t>& ports) {
    std::string set = "{ ";
    for (std::size_t i = 0; i < ports.size(); ++i)
        set += (i ? ", " : "") + std::to_string(ports[i]);
    return set + " }";
}

}  // namespace

void validateFlowFilter(FlowFilter& filter) {
    if (filter.protocol != "tcp" && filter.protocol != "udp")
        throw std::invalid_argument("protocol must be tcp or udp, not '" + filter.protocol + "'");
    if (filter.ports.empty() || filter.ports.size() > 4)
        throw std::invalid_argument("give one to four --port values (got " +
                                    std::to_string(filter.ports.size()) + ")");
    for (auto port : filter.ports) {
        if (port == 0)
            throw std::invalid_argument("--port 0 is not a port (1-65535)");
    }
    std::sort(filter.ports.begin(), filter.ports.end());
    filter.ports.erase(std::unique(filter.ports.begin(), filter.ports.end()), filter.ports.end());
    if (filter.family != 0 && filter.family != 4 && filter.family != 6)
        throw std::invalid_argument("family must be 4 or 6");
    if (!filter.host.empty()) {
        unsigned char buffer[16];
        char text[INET6_ADDRSTRLEN];
        int family = filter.host.find(':') == std::string::npos ? AF_INET : AF_INET6;
        if (::inet_pton(family, filter.host.c_str(), buffer) != 1 ||
            ::inet_ntop(family, buffer, text, sizeof(text)) == nullptr)
            throw std::invalid_argument("--host '" + filter.host +
                                        "' is not an IPv4 or IPv6 address");
        int hostFamily = family == AF_INET ? 4 : 6;
        if (filter.family != 0 && filter.family != hostFamily)
            throw std::invalid_argument("--host " + filter.host + " is not an IPv" +
                                        std::to_string(filter.family) + " address");
        filter.host = text;
        filter.family = hostFamily;
    }
}

std::string describe(const FlowFilter& filter) {
    std::string text = filter.protocol + " port";
    for (std::size_t i = 0; i < filter.ports.size(); ++i)
        text += (i ? " or " : " ") + std::to_string(filter.ports[i]);
    if (!filter.host.empty())
        text += ", host " + filter.host;
    if (filter.family != 0)
        text += ", IPv" + std::to_string(filter.family);
    return text;
}

std::string traceTableName(long pid) {
    return "tplab_trace_" + std::to_string(pid);
}

long pidFromTraceName(const std::string& name) {
    for (const std::string prefix : {"tplab_trace_", "tplab-"}) {
        if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size() ||
            name.size() > prefix.size() + 9)
            continue;
        std::string digits = name.substr(prefix.size());
        if (digits.find_first_not_of("0123456789") != std::string::npos || digits[0] == '0')
            continue;
        return std::stol(digits);
    }
    return -1;
}

std::string traceTableScript(const FlowFilter& filter, const std::string& table, bool followNat) {
    std::vector<std::string> matches;
    std::string proto = "meta l4proto " + filter.protocol;
    if (filter.family == 4)
        proto = "meta nfproto ipv4 " + proto;
    if (filter.family == 6)
        proto = "meta nfproto ipv6 " + proto;
    std::string ports = portSet(filter.ports);
    std::string ip = filter.family == 6 ? "ip6" : "ip";
    for (const char* dir : {"dport", "sport"}) {
        std::string base = proto + " th " + dir + " " + ports;
        if (filter.host.empty()) {
            matches.push_back(base);
        } else {
            matches.push_back(base + " " + ip + " saddr " + filter.host);
            matches.push_back(base + " " + ip + " daddr " + filter.host);
        }
    }
    std::string script = "table inet " + table + " {\n";
    // After conntrack (-200): NAT changes a connection's ports on the way (REDIRECT's replies
    // leave from the proxy's port), so also trace every packet of a connection whose
    // *original* destination port is one of the flow's.
    for (const char* hook : {"prerouting", "output"}) {
        if (!followNat)
            break;
        script += std::string("    chain ") + hook + "_conntrack {\n        type filter hook " +
                  hook + " priority -199; policy accept;\n";
        std::string base = proto + " ct original proto-dst " + ports;
        if (filter.host.empty()) {
            script += "        " + base + " meta nftrace set 1\n";
        } else {
            for (const char* end : {"saddr", "daddr"})
                script += "        " + base + " ct original " + ip + " " + end + " " + filter.host +
                          " meta nftrace set 1\n";
        }
        script += "    }\n";
    }
    for (const char* hook : kHooks) {
        script += std::string("    chain ") + hook + " {\n        type filter hook " + hook +
                  " priority " + kFirstPriority + "; policy accept;\n";
        if (std::string(hook) == "prerouting" || std::string(hook) == "output") {
            for (const auto& match : matches)
                script += "        " + match + " meta nftrace set 1\n";
        }
        script += "    }\n";
    }
    return script + "}\n";
}

bool isTraceHookChain(const std::string& chain) {
    return std::find(std::begin(kHooks), std::end(kHooks), chain) != std::end(kHooks);
}

}  // namespace tplab
