// One function per kind of check; each appends findings. ip rules, routes and nft rules come
// parsed from the tools' JSON (kernel_rules.hpp); iptables-save has no JSON and is read as text.
#include "checks.hpp"

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>

#include "conntrack_zone.hpp"

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

// An nft tproxy rule's mark: the one it sets itself (before or after `tproxy`), or else the
// last one an earlier rule of its chain sets (not the socket rule's, which is for other flows).
std::optional<MarkSet> nftTproxyMark(const std::vector<NftRule>& rules, std::size_t index) {
    if (rules[index].markSet) {
        return rules[index].markSet;
    }
    std::optional<MarkSet> earlier;
    for (std::size_t i = 0; i < index; ++i) {
        const auto& rule = rules[i];
        if (rule.family == rules[index].family && rule.table == rules[index].table &&
            rule.chain == rules[index].chain && rule.markSet && !rule.socketTransparent) {
            earlier = rule.markSet;
        }
    }
    return earlier;
}

// The marks TPROXY rules of one family set: iptables(-6)-save's --tproxy-mark, nft's
// `meta mark set` in (or before) a `tproxy` rule of a table ip, ip6 or inet. A rule that sets
// no mark at all comes back with mask 0.
std::vector<MarkUse> tproxyMarks(const SystemSnapshot& s, bool v6) {
    std::vector<MarkUse> marks;
    std::regex iptablesMark("--tproxy-mark (0x[0-9a-fA-F]+)(?:/(0x[0-9a-fA-F]+))?");
    std::istringstream lines(v6 ? s.ip6tablesRules : s.iptablesRules);
    for (std::string line; std::getline(lines, line);) {
        std::smatch match;
        if (line.find("TPROXY") != std::string::npos &&
            std::regex_search(line, match, iptablesMark)) {
            unsigned long value = std::stoul(match[1], nullptr, 16);
            unsigned long mask =
                match[2].matched ? std::stoul(match[2], nullptr, 16) : 0xffffffffUL;
            marks.push_back({value, mask, line});
        }
    }
    for (std::size_t i = 0; i < s.nftRules.size(); ++i) {
        const auto& rule = s.nftRules[i];
        if (!rule.tproxyPort || !rule.appliesTo(v6)) {
            continue;
        }
        auto mark = nftTproxyMark(s.nftRules, i);
        marks.push_back({mark ? mark->value : 0UL, mark ? mark->mask : 0UL, rule.where()});
    }
    return marks;
}

// The `ip rule`s that select by mark, with whatever else they select by (iif, from, to).
std::vector<IpRule> fwmarkRules(const std::vector<IpRule>& rules) {
    std::vector<IpRule> found;
    for (const auto& rule : rules) {
        if (rule.fwmark) {
            found.push_back(rule);
        }
    }
    return found;
}

std::string hex(unsigned long value) {
    std::ostringstream text;
    text << "0x" << std::hex << value;
    return text.str();
}

// "fwmark 0x1/0x1 iif veth-c lookup 100", as `ip rule` prints it (and "(and more selectors)").
std::string describe(const IpRule& rule) {
    return "fwmark " + hex(*rule.fwmark) + "/" + hex(rule.fwmask) +
           (rule.iif.empty() ? "" : " iif " + rule.iif) +
           (rule.oif.empty() ? "" : " oif " + rule.oif) + " lookup " + rule.table +
           (rule.otherSelectors ? " (it selects by address or port too)" : "");
}

bool hasLocalDefault(const std::vector<Route>& routes) {
    return std::any_of(routes.begin(), routes.end(), [](const Route& route) {
        return route.type == "local" && route.dst == "default";
    });
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
    if (mark.mask == 0) {
        out.push_back({"tproxy.mark." + family, Severity::Fail,
                       "the nft tproxy rule in " + mark.where +
                           " sets no mark: its packets are routed as if not intercepted, and "
                           "the forward path drops a packet that already has a socket",
                       "add `meta mark set 0x1` to that rule (and an `" + ip +
                           " rule add fwmark 0x1/0x1 lookup 100`)"});
        return;
    }
    const std::string markText = hex(mark.value) + "/" + hex(mark.mask);
    auto policies = fwmarkRules(v6 ? s.ipRules6 : s.ipRules4);
    auto matching = std::find_if(policies.begin(), policies.end(), [&](const IpRule& p) {
        return *p.fwmark != 0 && (mark.value & p.fwmask) == *p.fwmark;
    });
    if (matching == policies.end()) {
        if (!policies.empty()) {
            out.push_back(
                {"tproxy.mark_mismatch." + family, Severity::Fail,
                 "TPROXY marks packets " + markText + " but the fwmark ip rule matches " +
                     hex(*policies.front().fwmark) + "/" + hex(policies.front().fwmask) +
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
    out.push_back({"tproxy.ip_rule." + family, Severity::Ok, describe(*matching), ""});
    const auto& routes = v6 ? s.routes6 : s.routes4;
    auto table = routes.find(matching->table);
    bool local = table != routes.end() && hasLocalDefault(table->second);
    out.push_back({"tproxy.local_route." + family, local ? Severity::Ok : Severity::Fail,
                   local ? "table " + matching->table + " has `local default dev lo`"
                         : "table " + matching->table +
                               " has no `local` default route: marked "
                               "packets are not delivered to the proxy",
                   local ? ""
                         : ip + " route add local " + (v6 ? "::/0" : "0.0.0.0/0") +
                               " dev lo table " + matching->table});
}

// `from all iif IF [ipproto P dport N] lookup T` rules: AnyIP's and sk-lookup's.
std::vector<std::string> interfaceRuleTables(const std::vector<IpRule>& rules) {
    std::vector<std::string> tables;
    for (const auto& rule : rules) {
        if (!rule.iif.empty() && !rule.fwmark && !rule.table.empty()) {
            tables.push_back(rule.table);
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
        bool local = table != routes.end() &&
                     std::any_of(table->second.begin(), table->second.end(),
                                 [](const Route& route) { return route.type == "local"; });
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

// Whether iptables-save's mangle PREROUTING marks the packets of flows that have a socket here:
// `-m socket [--transparent] -j MARK`, or a jump to a chain that marks (the kernel
// documentation's `-m socket -j DIVERT`, with DIVERT doing `-j MARK` and `-j ACCEPT`). The
// `-j CT --zone` socket rule of `tplab rules` marks nothing and does not count.
bool socketMarkRule(const std::string& iptablesSave) {
    std::set<std::string> markingChains{"MARK"};
    std::vector<std::string> preroutingJumps;
    std::istringstream lines(iptablesSave);
    std::string table;
    static const std::regex rule("^-A (\\S+) (.*)-j (\\S+)");
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind('*', 0) == 0) {
            table = line.substr(1);
        }
        std::smatch match;
        if (table != "mangle" || !std::regex_search(line, match, rule)) {
            continue;
        }
        if (match[3] == "MARK") {
            markingChains.insert(match[1]);
        }
        bool socketMatch = (" " + std::string(match[2])).find(" -m socket ") != std::string::npos;
        if (match[1] == "PREROUTING" && socketMatch) {
            preroutingJumps.push_back(match[3]);
        }
    }
    return std::any_of(preroutingJumps.begin(), preroutingJumps.end(),
                       [&](const std::string& target) { return markingChains.count(target) > 0; });
}

bool nftSocketMarkRule(const std::vector<NftRule>& rules, bool v6) {
    return std::any_of(rules.begin(), rules.end(), [&](const NftRule& rule) {
        return rule.socketTransparent && rule.markSet && rule.appliesTo(v6);
    });
}

// Per family: IPv6 only when its rules intercept anything (an IPv4-only setup needs no IPv6
// return path). nft's `socket transparent 1` counts for the families its table serves.
void checkSpoofReturnPath(const SystemSnapshot& s, const DoctorOptions& o, Findings& out) {
    if (!o.spoofSource)
        return;
    for (bool v6 : {false, true}) {
        const std::string& rules = v6 ? s.ip6tablesRules : s.iptablesRules;
        bool nft = nftSocketMarkRule(s.nftRules, v6);
        if (v6 && !intercepts(rules, s.nftRules, v6) && !nft)
            continue;
        bool rule = nft || socketMarkRule(rules);
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

// The mark the zone rules find the upstreams by: --mark, or else the one the rules use.
std::optional<std::uint32_t> zonedMark(const SystemSnapshot& s, const DoctorOptions& o) {
    if (o.mark) {
        return o.mark;
    }
    static const std::regex markMatch("-A OUTPUT .*-m mark --mark (0x[0-9a-fA-F]+)");
    for (const std::string* rules : {&s.iptablesRules, &s.ip6tablesRules}) {
        std::smatch match;
        if (rules->find("-j CT") != std::string::npos &&
            std::regex_search(*rules, match, markMatch)) {
            return static_cast<std::uint32_t>(std::stoul(match[1], nullptr, 16));
        }
    }
    for (const auto& rule : s.nftRules) {
        if (rule.ctZoneSet && rule.hook == "output" && rule.metaMark) {
            return rule.metaMark->value;
        }
    }
    return std::nullopt;
}

// Spoofed upstreams without a conntrack zone of their own clash with client flows of the same
// 4-tuple (docs/full-transparency.md#the-fix). A loss of a few in a thousand: a warning.
void checkSpoofConntrackZone(const SystemSnapshot& s, const DoctorOptions& o, Findings& out) {
    if (!o.spoofSource)
        return;
    auto mark = zonedMark(s, o);
    for (bool v6 : {false, true}) {
        const std::string& rules = v6 ? s.ip6tablesRules : s.iptablesRules;
        if (v6 && !intercepts(rules, s.nftRules, v6))
            continue;
        const std::string family = v6 ? "ipv6" : "ipv4";
        const std::string binary = v6 ? "ip6tables" : "iptables";
        auto coverage = mark ? conntrackZoneFor(*mark, rules, s.nftRules, v6) : ZoneCoverage{};
        const std::string markText = mark ? hex(*mark) : "";
        std::string missing = !coverage.outgoing && !coverage.replies ? "no conntrack zone rule"
                              : !coverage.outgoing                    ? "no raw OUTPUT zone rule"
                                                   : "no raw PREROUTING zone rule for the replies";
        missing += mark ? " matches the proxy's mark " + markText
                        : " (raw -j CT --zone, nft ct zone set) finds the proxy's upstreams";
        out.push_back(
            {"spoof.conntrack_zone." + family, coverage.complete() ? Severity::Ok : Severity::Warn,
             coverage.complete()
                 ? "the upstreams marked " + markText + " have a conntrack zone of their own"
                 : missing +
                       ": a spoofed upstream whose 4-tuple a client flow also uses clashes with "
                       "it in conntrack, and one of them is lost (docs/full-transparency.md, "
                       "\"The fix\")",
             coverage.complete()
                 ? ""
                 : "tplab rules --spoof-source --mark " + (mark ? hex(*mark) : "M") +
                       " ... --apply, and the proxy with the same --mark (" + binary +
                       " -t raw: -j CT --zone 1 in OUTPUT for the mark, in PREROUTING for "
                       "replies to its transparent sockets)"});
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
    checkSpoofConntrackZone(system, options, findings);
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
