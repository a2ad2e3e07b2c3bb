// What a lab recorded for one mode (a "run directory"): meta.json, one .pcap per capture
// point, the proxy's events (events.jsonl, and NAME-events.jsonl for more proxies in one run),
// the gateway's conntrack, socket and rule snapshots, and the BPF objects attached to its
// namespace (bpf.json, from bpftool, in a run whose proxy attached a program).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "packet.hpp"

namespace tplab {

struct RecordedPoint {
    std::string label;  // "gateway:veth-c"
    std::string file;
    std::vector<std::string> between;  // the two lanes this wire joins, client side first
    std::vector<Packet> packets;
};

// Each event carries the name of the file it came from under this key: ids are per proxy.
inline constexpr const char* kEventsFileKey = "events_file";

struct RunRecords {
    std::string directory;
    nlohmann::ordered_json meta;
    std::vector<std::string> lanes;
    std::vector<RecordedPoint> points;  // in path order, client first
    std::vector<nlohmann::ordered_json> events;
    std::vector<std::string> conntrackLines;
    std::vector<std::string> socketLines;
    std::vector<std::string> ruleLines;
    nlohmann::ordered_json bpf;    // bpf.json: netns_ino, links, programs, counters; null if none
    nlohmann::ordered_json trace;  // trace.json (tplab trace --json-file); null if none
};

// Reads a run directory. Missing optional files (events, conntrack, sockets, rules) leave
// their parts empty; a missing or malformed meta.json or pcap throws std::runtime_error.
RunRecords loadRunRecords(const std::string& directory);

}  // namespace tplab
