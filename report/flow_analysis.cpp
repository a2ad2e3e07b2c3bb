// Following a client's connection (TCP) or datagram flow (UDP) from wire to wire. At each point
// the flow is found by the client's own address and port (unchanged by REDIRECT, DNAT and TPROXY
// on the client side), else by the proxy's upstream socket named in its `connected` event.
#include "flow_analysis.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "events_json.hpp"
#include "kernel_state.hpp"
#include "socks_handshake.hpp"
#include "steering.hpp"
#include "trace_summary.hpp"

namespace tplab {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::size_t kMaxLadderArrows = 200;

struct Hop {
    bool seen = false;
    Endpoint source;  // as the flow's first forward packet carries it at this point
    Endpoint destination;
    std::vector<const Packet*> packets;
};

bool touches(const Packet& packet, const Endpoint& endpoint) {
    return packet.source == endpoint || packet.destination == endpoint;
}

Hop findHop(const RecordedPoint& point, const std::vector<Endpoint>& anchors, Transport transport) {
    Hop hop;
    for (const Endpoint& anchor : anchors) {
        for (const Packet& packet : point.packets) {
            if (packet.transport != transport || !touches(packet, anchor)) {
                continue;
            }
            if (!hop.seen) {
                hop.seen = true;
                bool forward = packet.source == anchor;
                hop.source = forward ? packet.source : packet.destination;
                hop.destination = forward ? packet.destination : packet.source;
            }
            if (touches(packet, hop.source) && touches(packet, hop.destination)) {
                hop.packets.push_back(&packet);
            }
        }
        if (hop.seen) {
            return hop;
        }
    }
    return hop;
}

const Json* findEvent(const RunRecords& run, const std::string& type, const std::string& key,
                      const std::string& value) {
    for (const auto& event : run.events) {
        if (event.value("event", "") == type && event.contains(key) && event[key].is_string() &&
            event[key].get<std::string>() == value) {
            return &event;
        }
    }
    return nullptr;
}

const Json* findConnected(const RunRecords& run, const Json* accepted) {
    if (accepted == nullptr || !accepted->contains("id")) {
        return nullptr;
    }
    for (const auto& event : run.events) {
        if (event.value("event", "") == "connected" && event.value("id", 0) == (*accepted)["id"] &&
            event.value(kEventsFileKey, "") == accepted->value(kEventsFileKey, "")) {
            return &event;
        }
    }
    return nullptr;
}

Json field(const Json* event, const char* key) {
    return event != nullptr && event->contains(key) ? (*event)[key] : Json(nullptr);
}

Json natFor(const std::vector<ConntrackEntry>& entries, const Endpoint& client) {
    for (const auto& entry : entries) {
        if (entry.originalSource == client) {
            return {{"present", entry.isNat()}, {"tracked", true}, {"entry", entry.line}};
        }
    }
    return {{"present", false}, {"tracked", false}, {"entry", nullptr}};
}

Json ladderFor(const RunRecords& run, const std::vector<Hop>& hops) {
    struct Arrow {
        const Packet* packet;
        const RecordedPoint* point;
        bool forward;
    };
    std::vector<Arrow> arrows;
    std::set<std::vector<std::string>> linksDrawn;
    for (std::size_t i = 0; i < run.points.size(); ++i) {
        // Two points on one wire (client:eth0 and gateway:veth-c) see the same packets: draw one.
        if (!hops[i].seen || !linksDrawn.insert(run.points[i].between).second) {
            continue;
        }
        for (const Packet* packet : hops[i].packets) {
            arrows.push_back({packet, &run.points[i], packet->source == hops[i].source});
        }
    }
    std::stable_sort(arrows.begin(), arrows.end(), [](const Arrow& a, const Arrow& b) {
        return a.packet->time < b.packet->time;
    });
    Json ladder = Json::array();
    if (arrows.empty()) {
        return ladder;
    }
    double start = arrows.front().packet->time;
    for (const auto& arrow : arrows) {
        if (ladder.size() == kMaxLadderArrows) {
            break;
        }
        const auto& lanes = arrow.point->between;
        ladder.push_back({{"time_ms", (arrow.packet->time - start) * 1000.0},
                          {"point", arrow.point->label},
                          {"from", arrow.forward ? lanes[0] : lanes[1]},
                          {"to", arrow.forward ? lanes[1] : lanes[0]},
                          {"source", arrow.packet->source.toString()},
                          {"destination", arrow.packet->destination.toString()},
                          {"flags", arrow.packet->transport == Transport::Udp
                                        ? std::string("UDP")
                                        : tcpFlagsText(arrow.packet->tcpFlags)},
                          {"payload", arrow.packet->payloadBytes}});
    }
    return ladder;
}

// The first bytes one side of a TCP flow sent, in sequence order, from each data packet's kept
// head: retransmissions are skipped, and the stream ends at the first packet that was not kept
// whole (its bytes past kPayloadHeadBytes are unknown) or after kStreamPackets data packets.
std::string streamStart(const Hop& hop, bool fromClient) {
    constexpr std::size_t kStreamPackets = 4;
    std::string stream;
    std::optional<std::uint32_t> next;
    std::size_t taken = 0;
    for (const Packet* packet : hop.packets) {
        if (packet->payloadBytes == 0 || (packet->source == hop.source) != fromClient) {
            continue;
        }
        if (next && packet->sequence != *next) {
            continue;
        }
        stream += packet->payloadHead;
        next = packet->sequence + static_cast<std::uint32_t>(packet->payloadBytes);
        if (++taken == kStreamPackets || packet->payloadHead.size() < packet->payloadBytes) {
            break;
        }
    }
    return stream;
}

// The explicit-proxy handshake (SOCKS5 or HTTP CONNECT) on the client's own wire, or null when
// the client's first bytes are not one (a transparent proxy's client sends its own protocol).
Json explicitHandshake(const RecordedPoint& point, const Hop& hop) {
    if (!hop.seen) {
        return nullptr;
    }
    std::string client = streamStart(hop, true);
    ProxyExchange exchange = decodeProxyHandshake(client, streamStart(hop, false));
    if (exchange.messages.empty()) {
        return nullptr;
    }
    Json list = Json::array();
    for (const auto& message : exchange.messages) {
        list.push_back({{"from", message.fromClient ? "client" : "proxy"},
                        {"shown", message.shown},
                        {"meaning", message.meaning}});
    }
    return {{"point", point.label}, {"request", exchange.request}, {"messages", list}};
}

// `first` is the flow's first packet at the first point: a client's SYN, or a UDP datagram.
Json analyzeFlow(const RunRecords& run, const Packet& first,
                 const std::vector<ConntrackEntry>& conntrack,
                 const std::vector<std::string>& rules) {
    const Endpoint client = first.source;
    const Json* accepted = findEvent(run, "accepted", "client", client.toString());
    const Json* connected = findConnected(run, accepted);
    std::vector<Endpoint> anchors = {client};
    if (Json upstream = field(connected, "upstream_local"); upstream.is_string()) {
        if (auto endpoint = parseEndpointLoosely(upstream.get<std::string>())) {
            anchors.push_back(*endpoint);
        }
    }

    std::vector<Hop> hops;
    Json hopsJson = Json::array();
    const Hop* previous = nullptr;
    for (const auto& point : run.points) {
        hops.push_back(findHop(point, anchors, first.transport));
    }
    for (std::size_t i = 0; i < hops.size(); ++i) {
        const Hop& hop = hops[i];
        Json entry = {{"point", run.points[i].label}, {"seen", hop.seen}};
        entry["source"] = hop.seen ? Json(hop.source.toString()) : Json(nullptr);
        entry["destination"] = hop.seen ? Json(hop.destination.toString()) : Json(nullptr);
        entry["packets"] = hop.packets.size();
        entry["source_changed"] = hop.seen && previous && !(previous->source == hop.source);
        entry["destination_changed"] =
            hop.seen && previous && !(previous->destination == hop.destination);
        hopsJson.push_back(entry);
        if (hop.seen) {
            previous = &hop;
        }
    }

    Json internals;
    internals["accepted_local"] = field(accepted, "local");
    internals["original_dst"] = field(accepted, "original_dst");
    internals["recovered_by"] = field(accepted, "recovered_by");
    internals["lookup_error"] = field(accepted, "lookup_error");
    internals["upstream_local"] = field(connected, "upstream_local");
    // What the last point (the server's side) saw; nothing if the flow never got there.
    internals["server_saw"] =
        hops.back().seen ? Json(hops.back().source.toString()) : Json(nullptr);
    internals["nat"] = natFor(conntrack, client);
    internals["rules"] = rules;
    internals["steered_by"] = steeringObjects(
        run.ruleLines, run.bpf, first.destination.unmapped().isIpv6(), first.destination.port());
    internals["kernel_path"] = kernelPathSummary(run.trace);
    auto socket = findSocketLine(run.socketLines, client);
    internals["socket"] = socket ? Json(*socket) : Json(nullptr);

    return {{"client", client.toString()},
            {"intended", first.destination.toString()},
            {"protocol", first.transport == Transport::Udp ? "udp" : "tcp"},
            {"hops", hopsJson},
            {"internals", internals},
            {"explicit", first.transport == Transport::Tcp
                             ? explicitHandshake(run.points.front(), hops.front())
                             : Json(nullptr)},
            {"ladder", ladderFor(run, hops)}};
}

}  // namespace

Json analyzeRun(const RunRecords& run) {
    Json model;
    model["name"] = run.meta.value("name", run.meta.value("mode", std::string("run")));
    model["title"] = run.meta.value("title", model["name"].get<std::string>());
    for (const char* key : {"lab", "mode", "family"}) {
        model[key] = run.meta.contains(key) ? run.meta[key] : Json(nullptr);
    }
    model["directory"] = run.directory;
    model["lanes"] = run.lanes;
    Json points = Json::array();
    for (const auto& point : run.points) {
        points.push_back({{"label", point.label},
                          {"between", point.between},
                          {"packets", point.packets.size()}});
    }
    model["points"] = points;

    auto conntrack = parseConntrack(run.conntrackLines);
    auto rules = matchedRules(run.ruleLines);
    Json flows = Json::array();
    std::set<std::string> seenClients;
    // UDP has no SYN: a datagram starts a flow unless it answers one seen before (a reply goes
    // back from the endpoint an earlier datagram was sent to, to the one that sent it).
    std::set<std::pair<std::string, std::string>> datagramPairs;
    for (const Packet& packet : run.points.front().packets) {
        bool isClientSyn = packet.transport == Transport::Tcp && packet.has(tcp_flag::kSyn) &&
                           !packet.has(tcp_flag::kAck);
        bool isNewDatagramFlow = false;
        if (packet.transport == Transport::Udp) {
            std::string from = packet.source.toString();
            std::string to = packet.destination.toString();
            isNewDatagramFlow = !datagramPairs.count({to, from});
            datagramPairs.insert({from, to});
        }
        if ((isClientSyn || isNewDatagramFlow) &&
            seenClients.insert(packet.source.toString()).second) {
            flows.push_back(analyzeFlow(run, packet, conntrack, rules));
        }
    }
    model["flows"] = flows;
    return model;
}

Json buildReport(const std::vector<RunRecords>& runs) {
    Json report = {
        {"tool", "tplab report"}, {"version", TPLAB_VERSION}, {"generated", isoTimestampNow()}};
    Json models = Json::array();
    for (const auto& run : runs) {
        models.push_back(analyzeRun(run));
    }
    report["runs"] = models;
    return report;
}

}  // namespace tplab
