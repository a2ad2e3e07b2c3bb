// Journey assembly. The kernel reports hooks, rules and verdicts (nft trace) and drops
// (kfree_skb); routing and socket lookups are inferred from where the packet went next, and
// marked as inferred. Drops are tied to packets by time (see docs/trace.md: the trace id is a
// keyed hash, not the skb address).
#include "journey.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>

namespace tplab {

namespace {

constexpr double kDropBefore = 0.5;  // tplab reads an event late (nft monitor, a pipe)
constexpr double kDropAfter = 0.02;
constexpr double kDeliveredDropBefore = 0.2;

std::string endpoint(const std::string& addr, std::uint16_t port, int family) {
    return (family == 6 ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

bool mentionsTproxy(const JourneyStep& step) {
    return step.rule.find("TPROXY") != std::string::npos ||
           step.rule.find("tproxy") != std::string::npos ||
           step.iptables.find("TPROXY") != std::string::npos;
}

bool mentionsNat(const JourneyStep& step) {
    for (const char* word : {"REDIRECT", "DNAT", "redirect", "dnat"}) {
        if (step.rule.find(word) != std::string::npos ||
            step.iptables.find(word) != std::string::npos)
            return true;
    }
    return false;
}

// The mark a rule sets, from its text: --tproxy-mark X/Y, --set-mark X, --set-xmark X,
// meta mark set X. Only used to ask routing what it would do; the answer says "inferred".
std::optional<std::uint32_t> markSetBy(const JourneyStep& step) {
    static const std::regex pattern(
        R"((?:--tproxy-mark|--set-x?mark|meta mark set) (0x[0-9a-fA-F]+|[0-9]+))");
    std::smatch match;
    for (const auto* text : {&step.iptables, &step.rule}) {
        if (std::regex_search(*text, match, pattern))
            return static_cast<std::uint32_t>(std::stoul(match[1], nullptr, 0));
    }
    return std::nullopt;
}

struct PacketEvents {
    std::string id;
    std::vector<const TraceEvent*> events;
};

PacketTrace buildPacket(const PacketEvents& packet, const RulesetSnapshot& rules,
                        const JourneyOptions& options) {
    PacketTrace trace;
    trace.ids.push_back(packet.id);
    trace.firstTime = packet.events.front()->time;
    trace.lastTime = packet.events.back()->time;
    std::string currentHook;
    PacketHeaders lastHeaders;
    bool headersKnown = false;
    for (const TraceEvent* e : packet.events) {
        if (e->kind == TraceEvent::Kind::Packet && !headersKnown && e->packet.family != 0) {
            trace.headers = e->packet;
            headersKnown = true;
        }
        bool own = e->family == "inet" && e->table == options.ownTable;
        std::string hook;
        if (own) {
            hook = e->chain.substr(0, e->chain.find('_'));
        } else if (const ChainInfo* info = rules.chain(e->family, e->table, e->chain)) {
            hook = info->hook;
        }
        if (!hook.empty() && hook != currentHook && e->kind == TraceEvent::Kind::Packet) {
            if (currentHook == "prerouting" && (hook == "input" || hook == "forward")) {
                JourneyStep routing;
                routing.kind = JourneyStep::Kind::Routing;
                routing.text = hook == "input" ? "routed to this host (local delivery)"
                                               : "routed onwards (not for this host)";
                trace.steps.push_back(routing);
            }
            JourneyStep step;
            step.kind = JourneyStep::Kind::Hook;
            step.hook = hook;
            step.iif = e->packet.iif;
            step.oif = e->packet.oif;
            step.mark = e->packet.mark;
            if (e->packet.family != 0) {
                step.headers = e->packet;
                // NAT rewrites the packet between hooks; say so where it shows.
                if (!lastHeaders.saddr.empty()) {
                    if (e->packet.daddr != lastHeaders.daddr ||
                        e->packet.dport != lastHeaders.dport)
                        step.text = "destination rewritten (NAT): now " +
                                    endpoint(e->packet.daddr, e->packet.dport, e->packet.family);
                    if (e->packet.saddr != lastHeaders.saddr ||
                        e->packet.sport != lastHeaders.sport)
                        step.text += std::string(step.text.empty() ? "" : "; ") +
                                     "source rewritten (NAT): now " +
                                     endpoint(e->packet.saddr, e->packet.sport, e->packet.family);
                }
                lastHeaders = e->packet;
            }
            trace.steps.push_back(step);
            currentHook = hook;
        }
        if (own && e->kind == TraceEvent::Kind::Policy && !trace.steps.empty() &&
            trace.steps.back().kind == JourneyStep::Kind::Hook)
            trace.steps.back().mark = e->packet.mark;  // our chain runs first: the entry mark
        if (own || e->kind == TraceEvent::Kind::Packet || e->kind == TraceEvent::Kind::Return)
            continue;
        if (e->kind == TraceEvent::Kind::Policy && e->verdict == "accept")
            continue;
        JourneyStep step;
        step.kind =
            e->kind == TraceEvent::Kind::Rule ? JourneyStep::Kind::Rule : JourneyStep::Kind::Policy;
        step.hook = currentHook;
        step.table = e->family + " " + e->table;
        step.chain = e->chain;
        if (const ChainInfo* info = rules.chain(e->family, e->table, e->chain))
            step.priority = info->hook.empty()
                                ? "jump"
                                : describePriority(e->family, info->hook, info->priority);
        step.rule = e->rule;
        step.handle = e->handle;
        step.iptables = rules.iptablesRule(e->family, e->table, e->chain, e->handle);
        step.verdict = e->verdict;
        trace.steps.push_back(step);
    }
    bool ruleDrop = std::any_of(trace.steps.begin(), trace.steps.end(), [](const auto& s) {
        return s.kind != JourneyStep::Kind::Hook && s.verdict == "drop";
    });
    if (ruleDrop)
        trace.fate = "dropped";
    else if (currentHook == "postrouting")
        trace.fate = "sent";
    else if (currentHook == "input")
        trace.fate = "delivered";
    else
        trace.fate = "vanished";
    return trace;
}

std::string signatureOf(const PacketTrace& trace) {
    const auto& h = trace.headers;
    std::string signature = h.saddr + ":" + std::to_string(h.sport) + ">" + h.daddr + ":" +
                            std::to_string(h.dport) + " " + h.tcpFlags + " " + trace.fate;
    for (const auto& step : trace.steps) {
        if (step.inferred)
            continue;  // only the first packet of a leg is explained; copies are still copies
        signature += "|" + std::to_string(static_cast<int>(step.kind)) + step.hook + step.table +
                     step.chain + std::to_string(step.handle) + step.verdict;
    }
    if (trace.drop)
        signature += "|" + trace.drop->reason + trace.drop->location;
    return signature;
}

// The leg a packet belongs to: its protocol and its client end, taken to be the end with the
// higher port (an ephemeral port, against a service port).
std::string legKey(const PacketHeaders& h) {
    bool sourceIsClient = h.sport >= h.dport;
    return h.protocol + " " +
           (sourceIsClient ? endpoint(h.saddr, h.sport, h.family)
                           : endpoint(h.daddr, h.dport, h.family));
}

bool tieDrop(PacketTrace& trace, std::vector<DropEvent>& drops, std::vector<bool>& used,
             int* tied) {
    unsigned protocol = trace.headers.family == 6 ? 34525 : 2048;
    int best = -1;
    double bestDistance = 1e9;
    for (std::size_t i = 0; i < drops.size(); ++i) {
        const auto& drop = drops[i];
        if (used[i] || drop.protocol != protocol || drop.time < trace.firstTime - kDropBefore ||
            drop.time > trace.lastTime + kDropAfter)
            continue;
        bool netfilter = drop.reason == "NETFILTER_DROP";
        if ((trace.fate == "dropped") != netfilter)
            continue;
        // A delivered packet is only called dropped for the reasons that end a connection
        // before it starts (no socket, a full queue), close to its last event: TCP's own
        // drops of old or duplicate data are routine, and common elsewhere on the machine.
        if (trace.fate == "delivered" &&
            ((drop.reason != "NO_SOCKET" && drop.reason != "TCP_LISTEN_OVERFLOW" &&
              drop.reason.rfind("SOCKET_", 0) != 0 && drop.reason.rfind("UDP_", 0) != 0) ||
             drop.time < trace.lastTime - kDeliveredDropBefore))
            continue;
        double distance = std::fabs(drop.time - trace.lastTime);
        if (distance < bestDistance) {
            best = static_cast<int>(i);
            bestDistance = distance;
        }
    }
    if (best < 0)
        return false;
    used[static_cast<std::size_t>(best)] = true;
    ++*tied;
    trace.drop = drops[static_cast<std::size_t>(best)];
    if (trace.fate == "delivered" || trace.fate == "vanished")
        trace.fate = "dropped";
    return true;
}

// nft's tproxy statement, unlike the TPROXY target, does not drop when it finds no transparent
// socket: it ends the rule as "no match" (NFT_BREAK, net/netfilter/nft_tproxy.c), so the trace
// shows no event for it at all. Say so where a packet passed prerouting without it.
void addTproxyBreakStep(PacketTrace& trace, const RulesetSnapshot& rules) {
    bool passedPrerouting = false;
    for (const auto& step : trace.steps) {
        if (step.kind == JourneyStep::Kind::Rule && mentionsTproxy(step))
            return;
        passedPrerouting = passedPrerouting || (step.kind == JourneyStep::Kind::Hook &&
                                                step.hook != "prerouting" && step.hook != "output");
    }
    if (!passedPrerouting)
        return;
    for (const auto& rule : rules.rulesAtHook("prerouting", "tproxy ")) {
        JourneyStep step;
        step.kind = JourneyStep::Kind::Socket;
        step.inferred = true;
        step.text = "the nft rule \"" + rule.text + "\" (" + rule.family + " " + rule.table + " " +
                    rule.chain + ", handle " + std::to_string(rule.handle) +
                    ") did not match: its other matches failed, or its tproxy statement found no "
                    "transparent socket and gave up (NFT_BREAK), so the packet went on as if "
                    "there were no rule";
        auto routing = std::find_if(trace.steps.begin(), trace.steps.end(), [](const auto& s) {
            return s.kind == JourneyStep::Kind::Routing;
        });
        trace.steps.insert(routing, step);
    }
}

void addSocketStep(PacketTrace& trace) {
    JourneyStep socket;
    socket.kind = JourneyStep::Kind::Socket;
    socket.inferred = true;
    auto tproxy = std::find_if(trace.steps.begin(), trace.steps.end(), [](const auto& s) {
        return s.kind == JourneyStep::Kind::Rule && mentionsTproxy(s) && s.verdict == "accept";
    });
    auto nat = std::find_if(trace.steps.begin(), trace.steps.end(), [](const auto& s) {
        return s.kind == JourneyStep::Kind::Rule && mentionsNat(s);
    });
    if (tproxy != trace.steps.end())
        socket.text =
            "the TPROXY rule accepted: it had found a transparent socket and tied the "
            "packet to it";
    else if (nat != trace.steps.end())
        socket.text = "the socket listening on the new (NAT) destination";
    else
        socket.text =
            "the ordinary socket lookup for its destination (or a sk_lookup program's "
            "choice: not traced)";
    trace.steps.push_back(socket);
}

void addRouteProbe(PacketTrace& trace, const RouteProbe& probe) {
    auto routing = std::find_if(trace.steps.begin(), trace.steps.end(),
                                [](const auto& s) { return s.kind == JourneyStep::Kind::Routing; });
    bool vanishedInPrerouting =
        trace.fate != "sent" && !trace.steps.empty() && routing == trace.steps.end() &&
        std::none_of(trace.steps.begin(), trace.steps.end(),
                     [](const auto& s) {
                         return s.kind == JourneyStep::Kind::Hook && s.hook != "prerouting";
                     }) &&
        trace.steps.front().hook == "prerouting";
    bool ruleDropped = std::any_of(trace.steps.begin(), trace.steps.end(), [](const auto& s) {
        return s.kind == JourneyStep::Kind::Rule && s.verdict == "drop";
    });
    if (!probe || ruleDropped || (routing == trace.steps.end() && !vanishedInPrerouting))
        return;
    std::uint32_t mark = trace.steps.front().mark;
    for (const auto& step : trace.steps) {
        if (step.kind == JourneyStep::Kind::Rule && step.hook == "prerouting" &&
            step.verdict != "drop") {
            if (auto set = markSetBy(step))
                mark = *set;
        }
        if (step.kind == JourneyStep::Kind::Hook && step.hook != "prerouting")
            mark = step.mark;
    }
    // Ask with the packet as routing saw it: after prerouting's NAT, if a later hook shows it.
    PacketHeaders asRouted = trace.headers;
    for (const auto& step : trace.steps) {
        if (step.kind == JourneyStep::Kind::Hook && step.hook != "prerouting" &&
            step.headers.family != 0) {
            asRouted = step.headers;
            asRouted.iif = trace.headers.iif;
            break;
        }
    }
    std::string answer = probe(asRouted, mark);
    if (answer.empty())
        return;
    JourneyStep step;
    step.kind = JourneyStep::Kind::Routing;
    step.inferred = true;
    step.text = answer;
    if (routing == trace.steps.end())
        trace.steps.push_back(step);
    else
        trace.steps.insert(routing + 1, step);
}

}  // namespace

Journey assembleJourney(const std::vector<TraceEvent>& events,
                        const std::vector<DropEvent>& dropList, const RulesetSnapshot& rules,
                        const JourneyOptions& options, const RouteProbe& probe) {
    Journey journey;
    // A trace id is a keyed hash of the skb's address, its flow hash and its input interface
    // (nft_trace_init), so successive packets of one flow that reuse a freed skb's memory get
    // the same id (seen here: a SYN and the ACK after it). A packet enters the namespace once,
    // at prerouting or output, and tplab's chain there runs first: a second entry under the
    // same id is the next packet.
    std::vector<PacketEvents> packets;
    std::map<std::string, std::size_t> byId;
    for (const auto& event : events) {
        bool entry = event.family == "inet" && event.table == options.ownTable &&
                     event.kind == TraceEvent::Kind::Packet &&
                     (event.chain == "prerouting" || event.chain == "output");
        auto found = byId.find(event.id);
        if (found == byId.end() || (entry && !packets[found->second].events.empty())) {
            byId[event.id] = packets.size();
            packets.push_back({event.id, {}});
            found = byId.find(event.id);
        }
        packets[found->second].events.push_back(&event);
    }
    journey.packetsTraced = static_cast<int>(packets.size());
    std::vector<DropEvent> drops = dropList;
    if (!packets.empty()) {
        double begin = packets.front().events.front()->time - kDropBefore;
        double end = packets.back().events.back()->time + kDropAfter;
        for (const auto& drop : drops)
            journey.dropsInWindow += drop.time >= begin && drop.time <= end ? 1 : 0;
    }
    std::vector<bool> used(drops.size(), false);
    std::map<std::string, std::size_t> legIndex;
    std::vector<std::string> legOrder;
    for (const auto& packet : packets) {
        PacketTrace trace = buildPacket(packet, rules, options);
        if (trace.headers.family == 0)
            continue;  // no headers seen: nothing to place it by
        if (trace.fate != "sent")
            tieDrop(trace, drops, used, &journey.dropsTied);
        std::string key = legKey(trace.headers);
        auto [at, inserted] = legIndex.emplace(key, journey.legs.size());
        if (inserted) {
            if (static_cast<int>(journey.legs.size()) >= options.legs) {
                legIndex.erase(at);
                ++journey.legsNotShown;
                continue;
            }
            Leg leg;
            leg.protocol = trace.headers.protocol;
            leg.client = endpoint(trace.headers.saddr, trace.headers.sport, trace.headers.family);
            leg.server = endpoint(trace.headers.daddr, trace.headers.dport, trace.headers.family);
            journey.legs.push_back(leg);
        }
        Leg& leg = journey.legs[at->second];
        if (leg.packets.empty()) {
            addRouteProbe(trace, probe);
        }
        if (trace.fate == "delivered" && leg.packets.empty())
            addSocketStep(trace);
        if (leg.packets.empty())
            addTproxyBreakStep(trace, rules);
        trace.signature = signatureOf(trace);
        if (!leg.packets.empty() && leg.packets.back().signature == trace.signature) {
            ++leg.packets.back().copies;
            leg.packets.back().ids.push_back(packet.id);
            leg.packets.back().lastTime = trace.lastTime;
            continue;
        }
        if (static_cast<int>(leg.packets.size()) >= options.packetsPerLeg) {
            ++leg.packetsNotShown;
            continue;
        }
        // A packet that died where routing decides: ask routing what it would do.
        if (!leg.packets.empty() && trace.fate == "dropped" && trace.drop &&
            trace.drop->reason != "NETFILTER_DROP")
            addRouteProbe(trace, probe);
        leg.packets.push_back(std::move(trace));
    }
    for (std::size_t i = 0; i < drops.size(); ++i) {
        if (!used[i] && !packets.empty() &&
            drops[i].time >= packets.front().events.front()->time - kDropBefore &&
            drops[i].time <= packets.back().events.back()->time + kDropAfter)
            journey.untiedDrops.push_back(drops[i]);
    }
    return journey;
}

}  // namespace tplab
