// Tolerant parsers: a snapshot line tplab does not understand is skipped, never fatal.
#include "kernel_state.hpp"

#include <map>
#include <sstream>
#include <stdexcept>

namespace tplab {
namespace {

std::optional<Endpoint> endpointFrom(const std::string& address, const std::string& port) {
    bool v6 = address.find(':') != std::string::npos;
    return parseEndpointLoosely((v6 ? "[" + address + "]" : address) + ":" + port);
}

}  // namespace

std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> result;
    for (std::string word; in >> word;) {
        result.push_back(word);
    }
    return result;
}

std::optional<Endpoint> parseEndpointLoosely(const std::string& text) {
    try {
        return Endpoint::parse(text).unmapped();
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
}

bool ConntrackEntry::isNat() const {
    return !(replySource == originalDestination && replyDestination == originalSource);
}

std::vector<ConntrackEntry> parseConntrack(const std::vector<std::string>& lines) {
    std::vector<ConntrackEntry> entries;
    for (const auto& line : lines) {
        // Each direction is src= dst= sport= dport=, the original first, then the reply.
        std::vector<std::map<std::string, std::string>> tuples(1);
        for (const auto& word : words(line)) {
            auto equals = word.find('=');
            if (equals == std::string::npos) {
                continue;
            }
            std::string key = word.substr(0, equals);
            if (key != "src" && key != "dst" && key != "sport" && key != "dport") {
                continue;
            }
            if (tuples.back().count(key)) {
                tuples.emplace_back();
            }
            tuples.back()[key] = word.substr(equals + 1);
        }
        if (tuples.size() < 2 || tuples[0].size() != 4 || tuples[1].size() != 4) {
            continue;
        }
        auto os = endpointFrom(tuples[0]["src"], tuples[0]["sport"]);
        auto od = endpointFrom(tuples[0]["dst"], tuples[0]["dport"]);
        auto rs = endpointFrom(tuples[1]["src"], tuples[1]["sport"]);
        auto rd = endpointFrom(tuples[1]["dst"], tuples[1]["dport"]);
        if (os && od && rs && rd) {
            entries.push_back({*os, *od, *rs, *rd, line});
        }
    }
    return entries;
}

std::optional<std::string> findSocketLine(const std::vector<std::string>& lines,
                                          const Endpoint& peer) {
    for (const auto& line : lines) {
        auto columns = words(line);
        // State Recv-Q Send-Q Local Peer ...; with -a a leading Netid column may come first.
        for (std::size_t i = 0; i + 1 < columns.size() && i < 6; ++i) {
            auto local = parseEndpointLoosely(columns[i]);
            auto remote = parseEndpointLoosely(columns[i + 1]);
            if (local && remote && *remote == peer) {
                return line;
            }
        }
    }
    return std::nullopt;
}

std::vector<std::string> matchedRules(const std::vector<std::string>& lines) {
    std::vector<std::string> rules;
    std::string table;
    for (const auto& line : lines) {
        if (!line.empty() && line[0] == '*') {
            table = line.substr(1);
            continue;
        }
        if (line.rfind("[", 0) == 0 && line.find("] -A ") != std::string::npos) {
            if (line.rfind("[0:", 0) != 0) {
                auto close = line.find(']');
                rules.push_back(line.substr(0, close + 1) + " -t " + table +
                                line.substr(close + 1));
            }
            continue;
        }
        auto counter = line.find("counter packets ");
        if (counter != std::string::npos && line.compare(counter, 18, "counter packets 0 ") != 0) {
            auto begin = line.find_first_not_of(" \t");
            rules.push_back("nft: " + line.substr(begin));
        }
    }
    return rules;
}

}  // namespace tplab
