// One function per kind of check; each appends findings. The rules and routes are parsed from
// the text the tools print, as a person would read them.
#include "checks.hpp"

#include <algorithm>
#include <regex>
#include <sstream>

namespace tplab {
namespace {

using Findings = std::vector<Finding>;

std::string sysctl(const SystemSnapshot& s, const std::string& key,
                   const std::string& fallback = "") {
    auto found = s.sysctls.find(key);
    return found == s.sysctls.end() ? fallback : found->second;
}

bool tproxyMode(const DoctorOptions& o) {
    return o.mode == "tproxy";
}

// AnyIP and sk-lookup: an `iif` ip rule and a local route deliver the traffic, no netfilter.
bool policyRoutingOnly(const DoctorOptions& o) {
    return o.mode == "anyip" || o.mode == "sk-lookup";
}

// Every mode whose listener answers for other hosts' addresses needs IP_TRANSPARENT on it.
bool transparentListener(const DoctorOptions& o) {
    return tproxyMode(o) || policyRoutingOnly(o);
}

void checkForwarding(const SystemSnapshot& s, Findings& out) {
    for (auto [id, key] : {std::pair{"forwarding.ipv4", "net.ipv4.ip_forward"},
                           std::pair{"forwarding.ipv6", "net.ipv6.conf.all.forwarding"}}) {
        bool on = sysctl(s, key) == "1";
        out.push_back({id, on ? Severity::Ok : Severity::Warn,
                       std::string(key) + " = " + sysctl(s, key, "?") +
                           (on ? "" : ": traffic that is not intercepted is not forwarded"),
                       on ? "" : "sysctl -w " + std::string(key) + "=1"});
    }
}

// The effective rp_filter of an interface is the maximum of conf.all and conf.<iface>. Strict
// mode drops spoofed return traffic that arrives where the route back does not point
// (asymmetric paths).
void checkReversePath(const SystemSnapshot& s, const DoctorOptions& o, Findings& out) {
    int all = std::stoi(sysctl(s, "net.ipv4.conf.all.rp_filter", "0"));
    bool transparent = tproxyMode(o) || o.spoofSource;
    for (const auto& name : s.interfaces) {
        if (name == "lo")
            continue;
        int own = std::stoi(sysctl(s, "net.ipv4.conf." + name + ".rp_filter", "0"));
        int effective = std::max(all, own);
        std::string text = "effective rp_filter on " + name + " = " + std::to_string(effective) +
                           " (max of all=" + std::to_string(all) + ", " + name + "=" +
                           std::to_string(own) + ")";
        if (effective == 1 && o.spoofSource) {
            out.push_back(
                {"rp_filter." + name, Severity::Warn,
                 text + ": strict mode drops spoofed return traffic that arrives on "
                        "another interface than the route back (asymmetric paths)",
                 "sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf." + name + ".rp_filter=2"});
        } else {
            out.push_back({"rp_filter." + name, Severity::Ok, text, ""});
        }
        // With src_valid_mark the source check uses the packet's mark, whose route (the
        // `local` table) says the source is local: a martian, dropped before any socket sees it,
        // whatever rp_filter says. Only the in_martian_src counter shows it.
        bool validMark = sysctl(s, "net.ipv4.conf.all.src_valid_mark") == "1" ||
                         sysctl(s, "net.ipv4.conf." + name + ".src_valid_mark") == "1";
        if (validMark && transparent) {
            out.push_back(
                {"src_valid_mark." + name, Severity::Fail,
                 "src_valid_mark = 1 on " + name +
                     ": marked packets (TPROXY, spoofed "
                     "replies) are checked against the marked route, which says `local`, and "
                     "dropped as martians",
                 "sysctl -w net.ipv4.conf.all.src_valid_mark=0 net.ipv4.conf." + name +
                     ".src_valid_mark=0"});
        }
    }
}

struct MarkUse {
    unsigned long value;
    unsigned long mask;
    std::string where;
};

// The marks TPROXY rules of one family set: iptables(-6)-save's --tproxy-mark, nft's
// `tproxy ip[6] to ... meta mark set`.
std::vector<MarkUse> tproxyMarks(const SystemSnapshot& s, bool v6) {
    std::vector<MarkUse> marks;
    std::regex iptablesMark("--tproxy-mark (0x[0-9a-fA-F]+)(?:/(0x[0-9a-fA-F]+))?");
    std::regex nftMark(v6 ? "tproxy ip6 .* meta mark set (0x[0-9a-fA-F]+)"
                          : "tproxy ip .* meta mark set (0x[0-9a-fA-F]+)");
    std::istringstream lines((v6 ? s.ip6tablesRules : s.iptablesRules) + s.nftRuleset);
    for (std::string line; std::getline(lines, line);) {
        std::smatch match;
        if (line.find("TPROXY") != std::string::npos &&
            std::regex_search(line, match, iptablesMark)) {
            unsigned long value = std::stoul(match[1], nullptr, 16);
            unsigned long mask =
                match[2].matched ? std::stoul(match[2], nullptr, 16) : 0xffffffffUL;
            marks.push_back({value, mask, line});
        } else if (std::regex_search(line, match, nftMark)) {
            marks.push_back({std::stoul(match[1], nullptr, 16), 0xffffffffUL, line});
        }
    }
    return marks;
}

struct PolicyRule {
    unsigned long value;
    unsigned long mask;
    std::string table;
};

std::vector<PolicyRule> fwmarkRules(const std::string& rules) {
    std::vector<PolicyRule> found;
    std::regex rule("fwmark (0x[0-9a-fA-F]+)(?:/(0x[0-9a-fA-F]+))? lookup (\\w+)");
    std::istringstream lines(rules);
    for (std::string line; std::getline(lines, line);) {
        std::smatch match;
        if (std::regex_search(line, match, rule)) {
            found.push_back({std::stoul(match[1], nullptr, 16),
                             match[2].matched ? std::stoul(match[2], nullptr, 16) : 0xffffffffUL,
                             match[3]});
        }
    }
    return found;
}

std::string hex(unsigned long value) {
    std::ostringstream text;
    text << "0x" << std::hex << value;
    return text.str();
}

// The TPROXY target only marks; an ip rule must send that mark to a table whose default route
// is `local`, or the packet is never delivered to the proxy.
void checkPolicyRoutingFor(const SystemSnapshot& s, const DoctorOptions& o, bool v6,
                           Findings& out) {
    const std::string family = v6 ? "ipv6" : "ipv4";
    const std::string ip = v6 ? "ip -6" : "ip -4";
    auto marks = tproxyMarks(s, v6);
    if (marks.empty()) {
        if (!o.spoofSource || v6)
            return;  // spoofed replies need the same routing (IPv4 checked)
        marks.push_back({0x1, 0x1, "--spoof-source return path"});
    }
    const MarkUse& mark = marks.front();
    const std::string markText = hex(mark.value) + "/" + hex(mark.mask);
    auto policies = fwmarkRules(v6 ? s.ipRules6 : s.ipRules4);
    auto matching = std::find_if(policies.begin(), policies.end(), [&](const PolicyRule& p) {
        return p.value != 0 && (mark.value & p.mask) == p.value;
    });
    if (matching == policies.end()) {
        if (!policies.empty()) {
            out.push_back(
                {"tproxy.mark_mismatch." + family, Severity::Fail,
                 "TPROXY marks packets " + markText + " but the fwmark ip rule matches " +
                     hex(policies.front().value) + "/" + hex(policies.front().mask) +
                     ": the marked packets are not routed locally",
                 ip + " rule add fwmark " + markText + " lookup " + policies.front().table});
        } else {
            out.push_back({"tproxy.ip_rule." + family, Severity::Fail,
                           "TPROXY marks packets " + markText +
                               " but no `ip rule` sends that mark "
                               "to a table with a local route: they are not delivered to the proxy "
                               "(a silent failure)",
                           ip + " rule add fwmark " + markText + " lookup 100"});
        }
        return;
    }
    out.push_back({"tproxy.ip_rule." + family, Severity::Ok,
                   "fwmark " + hex(matching->value) + "/" + hex(matching->mask) + " lookup " +
                       matching->table,
                   ""});
    const auto& routes = v6 ? s.routes6 : s.routes4;
    auto table = routes.find(matching->table);
    bool local =
        table != routes.end() && table->second.find("local default dev lo") != std::string::npos;
    out.push_back({"tproxy.local_route." + family, local ? Severity::Ok : Severity::Fail,
                   local ? "table " + matching->table + " has `local default dev lo`"
                         : "table " + matching->table +
                               " has no `local` default route: marked "
                               "packets are not delivered to the proxy",
                   local ? ""
                         : ip + " route add local " + (v6 ? "::/0" : "0.0.0.0/0") +
                               " dev lo table " + matching->table});
}

// `from all iif IF [ipproto P dport N] lookup T` lines: AnyIP's and sk-lookup's rules.
std::vector<std::string> interfaceRuleTables(const std::string& rules) {
    static const std::regex rule(R"(iif (\S+).* lookup (\S+))");
    std::vector<std::string> tables;
    std::istringstream lines(rules);
    for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (line.find("fwmark") == std::string::npos && std::regex_search(line, m, rule)) {
            tables.push_back(m[2]);
        }
    }
    return tables;
}

// AnyIP and sk-lookup: some family must send an interface's traffic to a table whose `local`
// route makes the intercepted addresses this host's, or nothing is delivered locally.
void checkLocalDeliveryRouting(const SystemSnapshot& s, const DoctorOptions& o, Findings& out) {
    bool anyFamily = false;
    for (bool v6 : {false, true}) {
        const std::string family = v6 ? "ipv6" : "ipv4";
        auto tables = interfaceRuleTables(v6 ? s.ipRules6 : s.ipRules4);
        if (tables.empty()) {
            continue;
        }
        anyFamily = true;
        const auto& routes = v6 ? s.routes6 : s.routes4;
        auto table = routes.find(tables.front());
        bool local = table != routes.end() && table->second.rfind("local ", 0) == 0;
        if (!local && table != routes.end()) {
            local = table->second.find("\nlocal ") != std::string::npos;
        }
        out.push_back(
            {"local_route." + family, local ? Severity::Ok : Severity::Fail,
             local ? "an iif ip rule looks up table " + tables.front() + ", which has a local route"
                   : "the iif ip rule looks up table " + tables.front() +
                         ", which has no local route: the traffic is forwarded, not delivered",
             local ? ""
                   : std::string(v6 ? "ip -6" : "ip -4") + " route add local " +
                         (v6 ? "::/0" : "0.0.0.0/0") + " dev lo table " + tables.front()});
    }
    if (!anyFamily) {
        out.push_back({"local_route.ip_rule", Severity::Fail,
                       "no `ip rule iif IF ... lookup T` sends the clients' traffic to a table "
                       "with a local route: nothing is delivered to the proxy",
                       "tplab rules --mode " + o.mode + " --in-interface IF --dport PORT --apply"});
    }
}

// sk-lookup: tplab's program attached to this namespace, with a listener in its socket map.
void checkSkLookup(const SystemSnapshot& s, Findings& out) {
    if (!s.skLookup) {
        return;
    }
    const auto& state = *s.skLookup;
    if (!state.error.empty()) {
        out.push_back({"sk_lookup.link", Severity::Warn, "cannot see the BPF links: " + state.error,
                       "run tplab doctor as root"});
        return;
    }
    const SkLookupLinkInfo* ours = nullptr;
    for (const auto& link : state.links) {
        if (link.programName == "tplab_steer" && ours == nullptr) {
            ours = &link;
        } else {
            out.push_back({"sk_lookup.other_program", Severity::Info,
                           "another sk_lookup program is attached here: link " +
                               std::to_string(link.linkId) + ", program " +
                               std::to_string(link.programId) + " (" + link.programName +
                               "); the programs run in attach order",
                           ""});
        }
    }
    if (ours == nullptr) {
        out.push_back({"sk_lookup.link", Severity::Fail,
                       "no tplab sk_lookup program is attached to this network namespace: the "
                       "local route delivers the traffic, but no listener is chosen for it",
                       "tplab proxy --mode sk-lookup --dport PORT --listen '[::]:15001'"});
        return;
    }
    out.push_back({"sk_lookup.link", Severity::Ok,
                   "BPF link " + std::to_string(ours->linkId) + " attaches program " +
                       std::to_string(ours->programId) + " (tplab_steer) to this namespace",
                   ""});
    bool tcp = std::find(ours->filledSlots.begin(), ours->filledSlots.end(), 0u) !=
                   ours->filledSlots.end() ||
               std::find(ours->filledSlots.begin(), ours->filledSlots.end(), 1u) !=
                   ours->filledSlots.end();
    out.push_back({"sk_lookup.socket_map", tcp ? Severity::Ok : Severity::Fail,
                   tcp ? "its socket map holds the proxy's TCP listener"
                       : "its socket map holds no TCP listener: steered connections find no "
                         "socket and are black-holed",
                   tcp ? "" : "restart tplab proxy --mode sk-lookup"});
}

void checkPolicyRouting(const SystemSnapshot& s, const DoctorOptions& o, Findings& out) {
    if (policyRoutingOnly(o)) {
        checkLocalDeliveryRouting(s, o, out);
        checkSkLookup(s, out);
        return;
    }
    if (tproxyMode(o) && tproxyMarks(s, false).empty() && tproxyMarks(s, true).empty()) {
        out.push_back({"tproxy.rule", Severity::Fail,
                       "no TPROXY rule (iptables -j TPROXY or nft tproxy) is installed: nothing "
                       "hands traffic to the proxy",
                       "tplab rules --mode tproxy --port " + std::to_string(o.port) + " --apply"});
    }
    checkPolicyRoutingFor(s, o, false, out);
    checkPolicyRoutingFor(s, o, true, out);
}

void checkKernelAndPrivileges(const SystemSnapshot& s, const DoctorOptions& o, Findings& out) {
    bool needAdmin = transparentListener(o) || o.spoofSource;
    out.push_back({"capability.net_admin",
                   s.capNetAdmin ? Severity::Ok : (needAdmin ? Severity::Fail : Severity::Info),
                   s.capNetAdmin
                       ? "CAP_NET_ADMIN: yes"
                       : "CAP_NET_ADMIN: no (IP_TRANSPARENT, SO_MARK and the rules need it)",
                   // Not setcap on the binary: that would hand every local user a proxy that
                   // can spoof any source address. The service holds the capability instead.
                   s.capNetAdmin ? ""
                                 : "run the proxy as root with --user (it keeps only what it "
                                   "needs), or as the systemd unit contrib/tplab-proxy@.service "
                                   "(AmbientCapabilities=CAP_NET_ADMIN)"});
    for (auto [module, what] :
         {std::pair{"xt_TPROXY", "the iptables TPROXY target"},
          std::pair{"xt_socket", "the iptables socket match"},
          std::pair{"nft_tproxy", "nft tproxy"}, std::pair{"nft_socket", "nft socket match"}}) {
        auto found = s.kernelFeatures.find(module);
        bool available = found != s.kernelFeatures.end() && found->second;
        out.push_back(
            {std::string("kernel.") + module,
             available ? Severity::Ok : (tproxyMode(o) ? Severity::Warn : Severity::Info),
             std::string(what) +
                 (available ? ": available" : ": not found (module " + std::string(module) + ")"),
             available ? "" : std::string("modprobe ") + module});
    }
}

void checkConntrackAndBridges(const SystemSnapshot& s, const DoctorOptions& o, Findings& out) {
    // Where the limit can be raised, and (tproxy) how to need no entries at all.
    auto raiseLimit = [&](long to) {
        std::string fix = "sysctl -w net.netfilter.nf_conntrack_max=" + std::to_string(to);
        if (!s.conntrackMaxWritable) {
            fix +=
                " in the host's initial namespace (read-only in this one; the count is per "
                "namespace, the limit is the host's)";
        }
        if (tproxyMode(o)) {
            fix +=
                "; or keep the intercepted flows out of conntrack: they need none in tproxy "
                "mode (raw PREROUTING ... -j CT --notrack)";
        }
        return fix;
    };
    if (s.conntrackCount && s.conntrackMax && *s.conntrackMax > 0) {
        double used = static_cast<double>(*s.conntrackCount) / static_cast<double>(*s.conntrackMax);
        out.push_back({"conntrack.usage", used > 0.8 ? Severity::Warn : Severity::Ok,
                       "conntrack entries " + std::to_string(*s.conntrackCount) + " of " +
                           std::to_string(*s.conntrackMax) +
                           (used > 0.8 ? ": near the limit, new connections will be dropped" : ""),
                       used > 0.8 ? raiseLimit(*s.conntrackMax * 2) : ""});
    }
    if (s.conntrackDrops > 0) {
        out.push_back({"conntrack.drops", Severity::Warn,
                       std::to_string(s.conntrackDrops) +
                           " packets dropped for want of a conntrack entry (conntrack -S: drop): "
                           "the table has been full",
                       raiseLimit(s.conntrackMax ? *s.conntrackMax * 2 : 524288)});
    }
    if (s.hasBridge && sysctl(s, "net.bridge.bridge-nf-call-iptables") == "1") {
        out.push_back({"bridge.nf_call_iptables", Severity::Warn,
                       "net.bridge.bridge-nf-call-iptables = 1: bridged frames pass iptables too, "
                       "and transparent-proxy rules may catch them (Docker sets this)",
                       "add -i/-o interface matches to the rules, or sysctl -w "
                       "net.bridge.bridge-nf-call-iptables=0 if nothing needs it"});
    }
}

bool hasLineWithBoth(const std::string& text, const std::string& first, const std::string& second) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.find(first) != std::string::npos && line.find(second) != std::string::npos) {
            return true;
        }
    }
    return false;
}

// Per family: IPv6 only when its rules intercept anything (an IPv4-only setup needs no IPv6
// return path). nft's `socket transparent 1` in an inet table serves both.
void checkSpoofReturnPath(const SystemSnapshot& s, const DoctorOptions& o, Findings& out) {
    if (!o.spoofSource)
        return;
    // The rule that marks: a socket match alone is not enough, since `tplab rules` also matches
    // transparent sockets in raw PREROUTING to put spoofed upstreams in a conntrack zone.
    bool nft = hasLineWithBoth(s.nftRuleset, "socket transparent 1", "meta mark set");
    for (bool v6 : {false, true}) {
        const std::string& rules = v6 ? s.ip6tablesRules : s.iptablesRules;
        bool intercepts = rules.find("-j TPROXY") != std::string::npos ||
                          rules.find("-j REDIRECT") != std::string::npos ||
                          rules.find("-j DNAT") != std::string::npos;
        if (v6 && !intercepts && !nft)
            continue;
        bool rule = nft || hasLineWithBoth(rules, "-m socket --transparent", "-j MARK");
        const std::string binary = v6 ? "ip6tables" : "iptables";
        out.push_back({std::string("spoof.return_rule.") + (v6 ? "ipv6" : "ipv4"),
                       rule ? Severity::Ok : Severity::Fail,
                       rule ? "replies to spoofed sources are marked for local delivery (socket "
                              "match)"
                            : "no `-m socket --transparent` rule (nft: `socket transparent 1`): "
                              "the server's replies to the client's address are forwarded to the "
                              "client instead of the proxy",
                       rule ? ""
                            : binary + " -t mangle -A PREROUTING -p tcp -m socket "
                                       "--transparent -j MARK --set-mark 0x1/0x1"});
    }
}

void checkListeners(const std::vector<ListenerInfo>& listeners, const DoctorOptions& o,
                    const std::string& protocol, Findings& out) {
    const std::string id = "listener." + protocol;
    const std::string port = std::to_string(o.port);
    if (listeners.empty()) {
        out.push_back({id, Severity::Fail, "nothing listens on " + protocol + " port " + port,
                       "tplab proxy --mode " + (o.mode.empty() ? std::string("MODE") : o.mode) +
                           " --listen '[::]:" + port + "'" + (protocol == "udp" ? " --udp" : "")});
        return;
    }
    for (const auto& listener : listeners) {
        std::string who =
            listener.address + (listener.process.empty() ? "" : " (" + listener.process + ")");
        if (transparentListener(o) && listener.transparent == false) {
            out.push_back(
                {id, Severity::Fail,
                 who + " listens without IP_TRANSPARENT: " +
                     (tproxyMode(o) ? "TPROXY cannot deliver to it"
                                    : "its SYN-ACK cannot leave from another host's address "
                                      "(the SYNs are counted as TcpExtListenDrops)"),
                 "tplab proxy --mode " + (o.mode == "anyip" ? std::string("tproxy") : o.mode) +
                     " --listen ... (sets IP_TRANSPARENT before bind)"});
        } else {
            std::string transparency = !listener.transparent   ? " (IP_TRANSPARENT: unknown)"
                                       : *listener.transparent ? " with IP_TRANSPARENT"
                                                               : " without IP_TRANSPARENT";
            out.push_back({id, Severity::Ok, who + " listens" + transparency, ""});
        }
    }
}

}  // namespace

std::vector<Finding> runChecks(const SystemSnapshot& system, const DoctorOptions& options) {
    std::vector<Finding> findings;
    checkForwarding(system, findings);
    checkReversePath(system, options, findings);
    checkPolicyRouting(system, options, findings);
    checkSpoofReturnPath(system, options, findings);
    checkKernelAndPrivileges(system, options, findings);
    checkConntrackAndBridges(system, options, findings);
    if (options.port > 0) {
        checkListeners(system.tcpListeners, options, "tcp", findings);
        if (options.udp) {
            checkListeners(system.udpListeners, options, "udp", findings);
        }
    }
    return findings;
}

Severity worstOf(const std::vector<Finding>& findings) {
    Severity worst = Severity::Ok;
    for (const auto& finding : findings)
        worst = std::max(worst, finding.severity);
    return worst;
}

std::string toString(Severity severity) {
    switch (severity) {
        case Severity::Ok:
            return "ok";
        case Severity::Info:
            return "info";
        case Severity::Warn:
            return "warn";
        case Severity::Fail:
            return "FAIL";
    }
    return "?";
}

}  // namespace tplab
