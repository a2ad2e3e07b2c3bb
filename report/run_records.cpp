// Loading a run directory from disk.
#include "run_records.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tplab {
namespace {

std::vector<std::string> readLines(const std::string& path) {
    std::vector<std::string> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

std::string need(const nlohmann::ordered_json& object, const char* key, const std::string& where) {
    if (!object.contains(key) || !object[key].is_string()) {
        throw std::runtime_error(where + ": \"" + key + "\" is missing or not a string");
    }
    return object[key].get<std::string>();
}

// events.jsonl first, then the other proxies' NAME-events.jsonl in name order.
std::vector<std::string> eventFiles(const std::string& directory) {
    std::vector<std::string> others;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
        std::string name = entry.path().filename().string();
        if (name.size() > 13 && name.ends_with("-events.jsonl")) {
            others.push_back(name);
        }
    }
    std::sort(others.begin(), others.end());
    others.insert(others.begin(), "events.jsonl");
    return others;
}

}  // namespace

RunRecords loadRunRecords(const std::string& directory) {
    RunRecords run;
    run.directory = directory;
    const std::string metaPath = directory + "/meta.json";
    std::ifstream metaFile(metaPath);
    if (!metaFile) {
        throw std::runtime_error(metaPath + ": cannot open (is this a lab run directory?)");
    }
    run.meta = nlohmann::ordered_json::parse(metaFile, nullptr, false);
    if (run.meta.is_discarded() || !run.meta.is_object()) {
        throw std::runtime_error(metaPath + ": not valid JSON");
    }
    if (!run.meta.contains("points") || !run.meta["points"].is_array() ||
        run.meta["points"].empty()) {
        throw std::runtime_error(metaPath +
                                 ": \"points\" must list the capture points in path order");
    }
    for (const auto& lane : run.meta.value("lanes", nlohmann::ordered_json::array())) {
        run.lanes.push_back(lane.get<std::string>());
    }
    for (const auto& entry : run.meta["points"]) {
        RecordedPoint point;
        point.label = need(entry, "label", metaPath);
        point.file = need(entry, "file", metaPath);
        for (const auto& lane : entry.value("between", nlohmann::ordered_json::array())) {
            point.between.push_back(lane.get<std::string>());
        }
        if (point.between.size() != 2) {
            throw std::runtime_error(metaPath + ": point " + point.label +
                                     " needs \"between\": [two lanes]");
        }
        point.packets = readPcapFile(directory + "/" + point.file);
        run.points.push_back(std::move(point));
    }
    for (const auto& file : eventFiles(directory)) {
        for (const auto& line : readLines(directory + "/" + file)) {
            auto event = nlohmann::ordered_json::parse(line, nullptr, false);
            if (event.is_object()) {
                event[kEventsFileKey] = file;
                run.events.push_back(std::move(event));
            }
        }
    }
    run.conntrackLines = readLines(directory + "/conntrack.txt");
    run.socketLines = readLines(directory + "/sockets.txt");
    run.ruleLines = readLines(directory + "/rules.txt");
    if (std::ifstream bpfFile(directory + "/bpf.json"); bpfFile) {
        run.bpf = nlohmann::ordered_json::parse(bpfFile, nullptr, false);
        if (run.bpf.is_discarded() || !run.bpf.is_object()) {
            throw std::runtime_error(directory + "/bpf.json: not a JSON object");
        }
    }
    if (std::ifstream traceFile(directory + "/trace.json"); traceFile) {
        run.trace = nlohmann::ordered_json::parse(traceFile, nullptr, false);
        if (run.trace.is_discarded() || !run.trace.is_object())
            run.trace = nullptr;  // a trace is extra: the report goes on without it
    }
    return run;
}

}  // namespace tplab
