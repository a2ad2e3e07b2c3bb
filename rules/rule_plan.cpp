// Building the plan: one place that knows every rule each mode needs, and why.
#include "rule_plan.hpp"

#include "ip_prefix.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>
#include <stdexcept>

namespace tplab {
namespace {

struct Family {
    bool v6;
    std::string iptables;   // iptables / ip6tables
    std::string ip;         // -4 / -6
    std::string any;        // 0.0.0.0/0 / ::/0
    std::string loopback;   // 127.0.0.0/8 / ::1/128
    std::string nfproto;    // ipv4 / ipv6
    std::string nftFamily;  // ip / ip6
};

std::vector<Family> familiesOf(const RuleSpec& spec) {
    std::vector<Family> families;
    if (spec.ipv4)
        families.push_back({false, "iptables", "-4", "0.0.0.0/0", "127.0.0.0/8", "ipv4", "ip"});
    if (spec.ipv6)
        families.push_back({true, "ip6tables", "-6", "::/0", "::1/128", "ipv6", "ip6"});
    return families;
}

std::vector<std::string> protocolsOf(const RuleSpec& spec) {
    std::vector<std::string> protocols;
    if (spec.tcp)
        protocols.push_back("tcp");
    if (spec.udp)
        protocols.push_back("udp");
    return protocols;
}

std::string hex(std::uint32_t value) {
    std::ostringstream text;
    text << "0x" << std::hex << value;
    return text.str();
}

std::string portList(const std::vector<std::uint16_t>& ports, const char* separator) {
    std::string list;
    for (auto port : ports)
        list += (list.empty() ? "" : separator) + std::to_string(port);
    return list;
}

ShellCommand shell(const std::string& script) {
    return ShellCommand{{"sh", "-c", script}, ""};
}

// An iptables rule: -A to add, -C to check, -D to delete, from the same arguments.
RuleStep iptablesRule(const std::string& why, const std::string& binary, const std::string& table,
                      const std::string& chain, std::vector<std::string> rule) {
    auto with = [&](const char* action) {
        std::vector<std::string> argv = {binary, "-w", "-t", table, action, chain};
        argv.insert(argv.end(), rule.begin(), rule.end());
        return ShellCommand{argv, ""};
    };
    std::string family = binary == "ip6tables" ? "ip6 " : "ip ";
    return RuleStep{why, with("-A"), with("-C"), with("-D"), "", family + table};
}

RuleStep sysctlStep(const std::string& why, const std::string& key, const std::string& value) {
    return RuleStep{why,
                    ShellCommand{{"sysctl", "-qw", key + "=" + value}, ""},
                    shell("test \"$(sysctl -n " + key + ")\" = " + value),
                    std::nullopt,
                    key,
                    ""};
}

std::vector<std::string> trafficMatch(const RuleSpec& spec, const std::string& protocol,
                                      bool withInterface) {
    std::vector<std::string> match;
    if (withInterface && !spec.inInterface.empty()) {
        match.insert(match.end(), {"-i", spec.inInterface});
    }
    match.insert(match.end(), {"-p", protocol});
    if (spec.destinationPorts.size() == 1) {
        match.insert(match.end(), {"--dport", std::to_string(spec.destinationPorts[0])});
    } else if (!spec.destinationPorts.empty()) {
        match.insert(match.end(),
                     {"-m", "multiport", "--dports", portList(spec.destinationPorts, ",")});
    }
    return match;
}

std::vector<std::string> target(const RuleSpec& spec, const Family& family) {
    const std::string port = std::to_string(spec.proxyPort);
    switch (spec.mode) {
        case InterceptMode::Redirect:
            return {"-j", "REDIRECT", "--to-ports", port};
        case InterceptMode::Dnat:
            return {
                "-j", "DNAT", "--to-destination",
                family.v6 ? "[" + spec.dnatAddress6 + "]:" + port : spec.dnatAddress4 + ":" + port};
        case InterceptMode::Tproxy:
        case InterceptMode::Anyip:  // no netfilter target: addPolicyRouting()
        case InterceptMode::SkLookup:
            break;
    }
    return {"-j", "TPROXY",        "--on-port",
            port, "--tproxy-mark", hex(spec.tproxyMark) + "/" + hex(spec.tproxyMark)};
}

// Every value ends up in an argv, a typed shell line and an `nft -f` script: take only what the
// kernel accepts, from a charset that needs no quoting in any of them.
// A rejected value as it can be shown on one line: control bytes and non-ASCII as \xNN.
std::string shown(const std::string& value) {
    std::string text;
    for (unsigned char c : value) {
        if (c >= 0x20 && c < 0x7f) {
            text += static_cast<char>(c);
        } else {
            char escaped[5];
            std::snprintf(escaped, sizeof(escaped), "\\x%02x", c);
            text += escaped;
        }
    }
    return text;
}

void validateInterface(const std::string& name) {
    const std::string option = "--in-interface '" + shown(name) + "'";
    auto allowed = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == '@' || c == '+' || c == '-';
    };
    if (!std::all_of(name.begin(), name.end(), allowed)) {
        throw std::invalid_argument(option + ": use only letters, digits and _ . @ + -");
    }
    if (name.size() > 15) {
        throw std::invalid_argument(option + ": an interface name has at most 15 bytes, not " +
                                    std::to_string(name.size()));
    }
    if (name == "." || name == "..") {
        throw std::invalid_argument(option + ": '.' and '..' are not interface names");
    }
    if (name.back() == '+') {
        throw std::invalid_argument(option +
                                    ": a trailing '+' is a wildcard for iptables but a plain "
                                    "character for nft; give the exact name");
    }
}

void validateAddress(const std::string& option, const std::string& address, int family) {
    const char* kind = family == AF_INET ? "IPv4" : "IPv6";
    if (address.find('/') != std::string::npos) {
        throw std::invalid_argument(option + " '" + shown(address) + "': one " + kind +
                                    " address, not a prefix");
    }
    unsigned char parsed[sizeof(in6_addr)];
    if (::inet_pton(family, address.c_str(), parsed) != 1) {
        throw std::invalid_argument(option + " '" + shown(address) + "': not an " + kind +
                                    " address");
    }
}

struct Prefix {
    bool v6;
    std::string text;
};

// "198.51.100.0/24" or "2001:db8::/32": parseIpPrefix, with the option named in its message.
Prefix parsePrefix(const std::string& text) {
    try {
        return Prefix{parseIpPrefix(text).family == AF_INET6, text};
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("--prefix ") + e.what());
    }
}

bool isPolicyRoutingOnly(InterceptMode mode) {
    return mode == InterceptMode::Anyip || mode == InterceptMode::SkLookup;
}

void validatePolicyRoutingOnly(const RuleSpec& spec) {
    const std::string mode = spec.mode == InterceptMode::Anyip ? "anyip" : "sk-lookup";
    if (spec.proxyPort != 0) {
        throw std::invalid_argument(
            "--port: --mode " + mode +
            " rewrites nothing, so a connection keeps its destination port; " +
            (spec.mode == InterceptMode::Anyip
                 ? "tplab proxy --mode tproxy listens on each --dport itself"
                 : "the BPF program of tplab proxy --mode sk-lookup --dport steers it to the "
                   "listener"));
    }
    if (spec.inInterface.empty()) {
        throw std::invalid_argument(
            "--mode " + mode +
            " needs --in-interface: an unscoped 'local' route would make every "
            "address this gateway's own, for its own connections too (the proxy's upstream "
            "included)");
    }
    if (spec.local || spec.spoofSource) {
        throw std::invalid_argument(std::string(spec.local ? "--local" : "--spoof-source") +
                                    " is not available with --mode " + mode +
                                    " (use --mode tproxy)");
    }
    bool have4 = false, have6 = false;
    for (const auto& text : spec.anyipPrefixes) {
        (parsePrefix(text).v6 ? have6 : have4) = true;
    }
    if (!spec.anyipPrefixes.empty() && spec.ipv4 && !have4) {
        throw std::invalid_argument(
            "--prefix: IPv4 is selected but no IPv4 prefix is given "
            "(add one, or select --ipv6 only)");
    }
    if (!spec.anyipPrefixes.empty() && spec.ipv6 && !have6) {
        throw std::invalid_argument(
            "--prefix: IPv6 is selected but no IPv6 prefix is given "
            "(add one, or select --ipv4 only)");
    }
}

void validate(const RuleSpec& spec) {
    if (isPolicyRoutingOnly(spec.mode)) {
        validatePolicyRoutingOnly(spec);
    } else if (spec.proxyPort == 0) {
        throw std::invalid_argument("--port: the proxy's port is required");
    } else if (!spec.anyipPrefixes.empty()) {
        throw std::invalid_argument("--prefix is for --mode anyip or sk-lookup only");
    }
    if (!spec.ipv4 && !spec.ipv6)
        throw std::invalid_argument("no address family selected");
    if (!spec.tcp && !spec.udp)
        throw std::invalid_argument("no protocol selected");
    if (!spec.inInterface.empty())
        validateInterface(spec.inInterface);
    std::set<std::uint16_t> seen;
    for (auto port : spec.destinationPorts) {
        if (port == 0)
            throw std::invalid_argument("--dport 0: ports are 1-65535");
        if (!seen.insert(port).second) {
            throw std::invalid_argument("--dport " + std::to_string(port) + " is given twice");
        }
    }
    if (spec.destinationPorts.size() > 15) {
        throw std::invalid_argument("--dport: at most 15 ports (iptables multiport), not " +
                                    std::to_string(spec.destinationPorts.size()));
    }
    if (spec.table < 1 || spec.table > 252) {
        throw std::invalid_argument("--table " + std::to_string(spec.table) +
                                    ": use 1-252 (253-255 are the kernel's default, main and "
                                    "local tables)");
    }
    if (spec.proxyMark == 0 || spec.tproxyMark == 0) {
        throw std::invalid_argument(
            "--mark 0: every unmarked packet carries mark 0, so it would exempt all traffic");
    }
    if (spec.mode != InterceptMode::Dnat &&
        (!spec.dnatAddress4.empty() || !spec.dnatAddress6.empty())) {
        throw std::invalid_argument("--to-address and --to-address6 are for --mode dnat only");
    }
    if (!spec.dnatAddress4.empty())
        validateAddress("--to-address", spec.dnatAddress4, AF_INET);
    if (!spec.dnatAddress6.empty())
        validateAddress("--to-address6", spec.dnatAddress6, AF_INET6);
    if (spec.udp && spec.mode != InterceptMode::Tproxy && !isPolicyRoutingOnly(spec.mode)) {
        throw std::invalid_argument(
            "--udp needs --mode tproxy: SO_ORIGINAL_DST cannot recover a "
            "UDP destination after REDIRECT/DNAT");
    }
    if (spec.mode == InterceptMode::Dnat &&
        ((spec.ipv4 && spec.dnatAddress4.empty()) || (spec.ipv6 && spec.dnatAddress6.empty()))) {
        throw std::invalid_argument("--mode dnat needs --to-address for each family it covers");
    }
    if ((spec.proxyMark & spec.tproxyMark) != 0) {
        throw std::invalid_argument("--mark " + hex(spec.proxyMark) + " overlaps the TPROXY mark " +
                                    hex(spec.tproxyMark) +
                                    ": the proxy's own packets would be routed back to it");
    }
}

bool needsLocalRoute(const RuleSpec& spec) {
    return spec.mode == InterceptMode::Tproxy || spec.spoofSource;
}

// `local PREFIX dev lo` in --table: packets that look the table up are delivered to a local
// socket, their destination unchanged (TPROXY's marked packets, AnyIP's steered ones).
RuleStep localRouteStep(const RuleSpec& spec, const Family& family, const std::string& prefix,
                        const std::string& why) {
    const std::string table = std::to_string(spec.table);
    auto route = [&](const char* action) {
        return ShellCommand{
            {"ip", family.ip, "route", action, "local", prefix, "dev", "lo", "table", table}, ""};
    };
    return RuleStep{why,
                    route("add"),
                    shell("ip " + family.ip + " route show table " + table + " type local exact " +
                          prefix + " | grep -q ."),
                    route("del"),
                    "",
                    ""};
}

void addRouting(const RuleSpec& spec, const Family& family, std::vector<RuleStep>& steps) {
    const std::string mark = hex(spec.tproxyMark) + "/" + hex(spec.tproxyMark);
    const std::string table = std::to_string(spec.table);
    steps.push_back(RuleStep{
        "marked packets use table " + table +
            ": the mark is how TPROXY (and spoofed replies) "
            "ask for local delivery of packets addressed to other hosts",
        ShellCommand{{"ip", family.ip, "rule", "add", "fwmark", mark, "lookup", table}, ""},
        shell("ip " + family.ip + " rule show | grep -qF 'fwmark " + mark + " lookup " + table +
              "'"),
        ShellCommand{{"ip", family.ip, "rule", "del", "fwmark", mark, "lookup", table}, ""}, "",
        ""});
    steps.push_back(localRouteStep(spec, family, family.any,
                                   "table " + table +
                                       " says every address is local: without it the marked "
                                       "packet is not delivered to the proxy (a silent failure)"));
}

const char* kTransparentWhy =
    "packets of flows a transparent socket here owns (relayed flows, spoofed replies): mark them "
    "for local delivery; the chain goes on, so a client's next UDP datagram still reaches TPROXY";
const char* kOwnSocketWhy =
    "guard: packets of the gateway's own sockets (replies to its and the proxy's upstream "
    "connections, sessions of local services) go on as usual; TPROXY drops them (not transparent)";
const char* kLocalAddressWhy =
    "guard: packets for the gateway's own addresses (ssh, local services) go on as usual; TPROXY "
    "would hand them to the proxy, which would connect back here";

// The TPROXY rule for `match`, behind the two guards that keep the gateway reachable.
void addGuardedTproxy(const RuleSpec& spec, const Family& family, std::vector<std::string> match,
                      std::vector<RuleStep>& steps) {
    const std::string mark = hex(spec.tproxyMark) + "/" + hex(spec.tproxyMark);
    auto ownSocket = match;
    ownSocket.insert(ownSocket.end(),
                     {"-m", "mark", "!", "--mark", mark, "-m", "socket", "-j", "ACCEPT"});
    steps.push_back(
        iptablesRule(kOwnSocketWhy, family.iptables, "mangle", "PREROUTING", ownSocket));
    auto localAddress = match;
    localAddress.insert(localAddress.end(),
                        {"-m", "addrtype", "--dst-type", "LOCAL", "-j", "ACCEPT"});
    steps.push_back(
        iptablesRule(kLocalAddressWhy, family.iptables, "mangle", "PREROUTING", localAddress));
    auto jump = target(spec, family);
    match.insert(match.end(), jump.begin(), jump.end());
    steps.push_back(iptablesRule(
        "hand the remaining matching packets, unchanged, to the proxy's transparent listener",
        family.iptables, "mangle", "PREROUTING", match));
}

// With --spoof-source a proxied TCP flow is two conntrack entries with the client's address as
// source; when the kernel gives the upstream a port the client also uses toward that server,
// both legs share one 4-tuple and conntrack drops one of them (insert_failed). A zone of its own
// for the upstream leg keeps them apart: its packets carry the proxy's --mark on the way out
// and belong to its marked transparent socket on the way back (docs/full-transparency.md).
constexpr const char* kZone = "1";
const char* kZoneOutWhy =
    "conntrack zone 1 for the proxy's spoofed upstream connections (they carry --mark): a "
    "client flow with the same 4-tuple stays a separate entry in zone 0";
const char* kZoneInWhy =
    "the servers' replies to those upstreams (their socket is transparent and carries --mark) "
    "join zone 1 too; --restore-skmark copies the socket's mark to the packet to tell them apart";

void addIptablesZones(const RuleSpec& spec, const Family& family, std::vector<RuleStep>& steps) {
    const std::string mark = hex(spec.proxyMark);
    steps.push_back(
        iptablesRule(kZoneOutWhy, family.iptables, "raw", "OUTPUT",
                     {"-p", "tcp", "-m", "mark", "--mark", mark, "-j", "CT", "--zone", kZone}));
    steps.push_back(iptablesRule(kZoneInWhy, family.iptables, "raw", "PREROUTING",
                                 {"-p", "tcp", "-m", "socket", "--transparent", "--restore-skmark",
                                  "-m", "mark", "--mark", mark, "-j", "CT", "--zone", kZone}));
}

void addIptables(const RuleSpec& spec, const Family& family, std::vector<RuleStep>& steps) {
    if (spec.spoofSource && spec.tcp) {
        addIptablesZones(spec, family, steps);
    }
    const bool tproxy = spec.mode == InterceptMode::Tproxy;
    const std::string mark = hex(spec.tproxyMark) + "/" + hex(spec.tproxyMark);
    for (const auto& protocol : protocolsOf(spec)) {
        if (tproxy || spec.spoofSource) {
            steps.push_back(iptablesRule(
                tproxy ? kTransparentWhy
                       : "replies to a spoofed source belong to a transparent socket here: mark "
                         "them so they are delivered locally instead of forwarded to the real "
                         "client",
                family.iptables, "mangle", "PREROUTING",
                {"-p", protocol, "-m", "socket", "--transparent", "-j", "MARK", "--set-mark",
                 mark}));
        }
        if (tproxy) {
            addGuardedTproxy(spec, family, trafficMatch(spec, protocol, true), steps);
        } else {
            auto rule = trafficMatch(spec, protocol, true);
            auto jump = target(spec, family);
            rule.insert(rule.end(), jump.begin(), jump.end());
            steps.push_back(iptablesRule(
                "rewrite the destination of matching connections to the proxy (conntrack "
                "remembers the original for SO_ORIGINAL_DST)",
                family.iptables, "nat", "PREROUTING", rule));
        }
        if (!spec.local) {
            continue;
        }
        const std::string table = tproxy ? "mangle" : "nat";
        steps.push_back(iptablesRule(
            "the proxy's own upstream connections carry --mark " + hex(spec.proxyMark) +
                ": let them through, or intercepting OUTPUT would loop them back",
            family.iptables, table, "OUTPUT",
            {"-p", protocol, "-m", "mark", "--mark", hex(spec.proxyMark), "-j", "RETURN"}));
        auto local = trafficMatch(spec, protocol, false);
        local.insert(local.begin(), {"!", "-d", family.loopback});
        if (tproxy) {
            local.insert(local.end(), {"-j", "MARK", "--set-mark", mark});
            steps.push_back(iptablesRule(
                "the gateway's own traffic never passes PREROUTING: mark it in OUTPUT so it is "
                "rerouted to lo and comes back in through PREROUTING, where TPROXY takes it",
                family.iptables, "mangle", "OUTPUT", local));
            if (!spec.inInterface.empty()) {
                auto fromLo = trafficMatch(spec, protocol, false);
                fromLo.insert(fromLo.begin(), {"-i", "lo"});
                addGuardedTproxy(spec, family, fromLo, steps);
            }
        } else {
            auto jump = target(spec, family);
            local.insert(local.end(), jump.begin(), jump.end());
            steps.push_back(iptablesRule(
                "the gateway's own connections: nat OUTPUT is where they can be redirected",
                family.iptables, "nat", "OUTPUT", local));
        }
    }
}

std::string nftMatch(const RuleSpec& spec, const Family& family, const std::string& protocol,
                     bool withInterface) {
    std::string match;
    if (withInterface && !spec.inInterface.empty())
        match += "iifname \"" + spec.inInterface + "\" ";
    match += "meta nfproto " + family.nfproto + " meta l4proto " + protocol + " ";
    if (!spec.destinationPorts.empty()) {
        match += "th dport { " + portList(spec.destinationPorts, ", ") + " } ";
    }
    return match;
}

std::string nftTarget(const RuleSpec& spec, const Family& family) {
    const std::string port = std::to_string(spec.proxyPort);
    switch (spec.mode) {
        case InterceptMode::Redirect:
            return "redirect to :" + port;
        case InterceptMode::Dnat:
            return "dnat " + family.nftFamily + " to " +
                   (family.v6 ? "[" + spec.dnatAddress6 + "]:" : spec.dnatAddress4 + ":") + port;
        case InterceptMode::Tproxy:
        case InterceptMode::Anyip:
        case InterceptMode::SkLookup:
            break;
    }
    return "tproxy " + family.nftFamily + " to :" + port + " meta mark set " +
           hex(spec.tproxyMark) + " accept";
}

// The tproxy statement for `match`, behind the same two guards as the iptables plan.
// nft's `socket` expression, unlike xt_socket, also finds sockets bound to the wildcard
// address (a listener on 0.0.0.0:80 would catch every forwarded SYN to port 80):
// `socket wildcard 0` makes it match what `-m socket` matches.
std::string nftGuardedTproxy(const RuleSpec& spec, const Family& family, const std::string& match) {
    return "\t\t" + match + "socket transparent 0 socket wildcard 0 accept\n" + "\t\t" + match +
           "fib daddr type local accept\n" + "\t\t" + match + nftTarget(spec, family) + "\n";
}

// One table holds everything, so applying is "replace the table" and removing is "delete it".
std::string nftRuleset(const RuleSpec& spec) {
    const bool tproxy = spec.mode == InterceptMode::Tproxy;
    std::ostringstream nat, natOutput, mangle, routeOutput, rawPrerouting, rawOutput;
    if (spec.spoofSource && spec.tcp) {  // the conntrack zones of addIptablesZones()
        rawOutput << "\t\tmeta l4proto tcp meta mark " << hex(spec.proxyMark) << " ct zone set "
                  << kZone << "\n";
        rawPrerouting << "\t\tmeta l4proto tcp socket transparent 1 socket mark "
                      << hex(spec.proxyMark) << " ct zone set " << kZone << "\n";
    }
    for (const auto& protocol : protocolsOf(spec)) {
        // Family-agnostic: one rule serves IPv4 and IPv6. No `accept`: the client's next UDP
        // datagram belongs to the proxy's reply socket (bound to the server's address, so the
        // lookup finds it) and must still reach tproxy, which hands it to the listener.
        if (tproxy || spec.spoofSource) {
            mangle << "\t\tmeta l4proto " << protocol
                   << " socket transparent 1 socket wildcard 0 meta mark set "
                   << hex(spec.tproxyMark) << "\n";
        }
    }
    for (const auto& family : familiesOf(spec)) {
        for (const auto& protocol : protocolsOf(spec)) {
            if (tproxy) {
                mangle << nftGuardedTproxy(spec, family, nftMatch(spec, family, protocol, true));
            } else {
                nat << "\t\t" << nftMatch(spec, family, protocol, true) << nftTarget(spec, family)
                    << "\n";
            }
            if (!spec.local)
                continue;
            std::string local = family.nftFamily + " daddr != " + family.loopback + " " +
                                nftMatch(spec, family, protocol, false);
            if (tproxy) {
                routeOutput << "\t\t" << local << "meta mark set " << hex(spec.tproxyMark) << "\n";
                if (!spec.inInterface.empty()) {
                    mangle << nftGuardedTproxy(
                        spec, family, "iifname \"lo\" " + nftMatch(spec, family, protocol, false));
                }
            } else {
                natOutput << "\t\t" << local << nftTarget(spec, family) << "\n";
            }
        }
    }
    std::ostringstream text;
    text << "table inet tplab\ndelete table inet tplab\ntable inet tplab {\n";
    auto chain = [&](const char* name, const char* hook, const std::ostringstream& body,
                     bool exempt) {
        if (body.str().empty())
            return;
        text << "\tchain " << name << " {\n\t\t" << hook << "; policy accept;\n";
        if (exempt)
            text << "\t\tmeta mark " << hex(spec.proxyMark) << " return\n";
        text << body.str() << "\t}\n";
    };
    chain("raw_prerouting", "type filter hook prerouting priority raw", rawPrerouting, false);
    chain("raw_output", "type filter hook output priority raw", rawOutput, false);
    chain("nat_prerouting", "type nat hook prerouting priority dstnat", nat, false);
    chain("nat_output", "type nat hook output priority -100", natOutput, true);
    chain("mangle_prerouting", "type filter hook prerouting priority mangle", mangle, false);
    chain("route_output", "type route hook output priority mangle", routeOutput, true);
    text << "}\n";
    return text.str();
}

// AnyIP and sk-lookup: policy routing alone. Packets arriving on --in-interface (for --dport,
// per protocol) look up a table whose `local` route says the prefix is this host's, so they
// are delivered to a local socket with their destination unchanged; no netfilter rule, no mark.
void addPolicyRouting(const RuleSpec& spec, const Family& family, std::vector<RuleStep>& steps) {
    const std::string table = std::to_string(spec.table);
    std::vector<std::vector<std::string>> selectors;  // ip rule selectors after `iif IF`
    if (spec.destinationPorts.empty()) {
        selectors.push_back({});
    }
    for (const auto& protocol : protocolsOf(spec)) {
        for (auto port : spec.destinationPorts) {
            selectors.push_back({"ipproto", protocol, "dport", std::to_string(port)});
        }
    }
    for (const auto& selector : selectors) {
        std::vector<std::string> rule = {"iif", spec.inInterface};
        rule.insert(rule.end(), selector.begin(), selector.end());
        rule.insert(rule.end(), {"lookup", table});
        std::string shownRule;
        for (const auto& word : rule)
            shownRule += (shownRule.empty() ? "" : " ") + word;
        auto ip = [&](const char* action) {
            std::vector<std::string> argv = {"ip", family.ip, "rule", action};
            argv.insert(argv.end(), rule.begin(), rule.end());
            return ShellCommand{argv, ""};
        };
        steps.push_back(RuleStep{
            selector.empty()
                ? "everything arriving on " + spec.inInterface + " uses table " + table +
                      " (no --dport: the gateway stops forwarding that interface's traffic to the "
                      "prefix, ping and all)"
                : "connections arriving on " + spec.inInterface + " for " + selector[1] + " port " +
                      selector[3] + " use table " + table +
                      " (the kernel dissects the ports; no netfilter)",
            ip("add"),
            shell("ip " + family.ip +
                  " rule show | cut -f2- | sed 's/ \\[detached\\]//' | grep -qxF " + "'from all " +
                  shownRule + "'"),
            ip("del"), "", ""});
    }
    std::vector<std::string> prefixes;
    for (const auto& text : spec.anyipPrefixes) {
        if (parsePrefix(text).v6 == family.v6)
            prefixes.push_back(text);
    }
    if (prefixes.empty())
        prefixes.push_back(family.any);
    for (const auto& prefix : prefixes) {
        steps.push_back(localRouteStep(
            spec, family, prefix,
            "table " + table + " says " + prefix +
                " is this host's: such packets are delivered to a local socket, destination "
                "unchanged (" +
                (spec.mode == InterceptMode::SkLookup
                     ? "tplab's BPF sk_lookup program picks its IP_TRANSPARENT listener"
                     : "a listener needs IP_TRANSPARENT to answer for it") +
                ")"));
    }
}

}  // namespace

std::vector<RuleStep> planRules(const RuleSpec& spec) {
    validate(spec);
    std::vector<RuleStep> steps;
    for (const auto& family : familiesOf(spec)) {
        steps.push_back(sysctlStep(
            "the gateway forwards what is not intercepted (and, for REDIRECT, the NATed flows)",
            family.v6 ? "net.ipv6.conf.all.forwarding" : "net.ipv4.ip_forward", "1"));
    }
    if (spec.spoofSource && spec.ipv4) {
        steps.push_back(sysctlStep(
            "loose reverse-path filtering: strict mode can drop spoofed return traffic (the "
            "effective value is the maximum of conf.all and the interface's)",
            "net.ipv4.conf.all.rp_filter", "2"));
    }
    if (isPolicyRoutingOnly(spec.mode)) {
        for (const auto& family : familiesOf(spec)) {
            addPolicyRouting(spec, family, steps);
        }
        return steps;
    }
    if (needsLocalRoute(spec)) {
        for (const auto& family : familiesOf(spec)) {
            addRouting(spec, family, steps);
        }
    }
    if (spec.firewall == Firewall::Iptables) {
        for (const auto& family : familiesOf(spec)) {
            addIptables(spec, family, steps);
        }
        return steps;
    }
    steps.push_back(RuleStep{
        "all nft rules in one table, replaced as a whole: " +
            std::string(spec.mode == InterceptMode::Tproxy ? "tproxy in a filter chain at mangle "
                                                             "priority"
                                                           : "redirect/dnat in nat chains"),
        ShellCommand{{"nft", "-f", "-"}, nftRuleset(spec)},
        ShellCommand{{"nft", "list", "table", "inet", "tplab"}, ""},
        ShellCommand{{"nft", "delete", "table", "inet", "tplab"}, ""}, "", ""});
    return steps;
}

std::string renderPlan(const std::vector<RuleStep>& steps) {
    std::string text;
    for (const auto& step : steps) {
        text += "# " + step.why + "\n" + step.apply.text() + "\n";
    }
    return text;
}

}  // namespace tplab
