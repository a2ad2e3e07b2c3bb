// Loading a run directory from disk.
#include "run_records.hpp"

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
    for (const auto& line : readLines(directory + "/events.jsonl")) {
        auto event = nlohmann::ordered_json::parse(line, nullptr, false);
        if (!event.is_discarded()) {
            run.events.push_back(std::move(event));
        }
    }
    run.conntrackLines = readLines(directory + "/conntrack.txt");
    run.socketLines = readLines(directory + "/sockets.txt");
    run.ruleLines = readLines(directory + "/rules.txt");
    return run;
}

}  // namespace tplab
