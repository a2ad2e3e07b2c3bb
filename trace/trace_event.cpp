// Parser for nft's trace lines (nft 1.0.x text; its JSON output has no traces):
//   trace id ID FAMILY TABLE CHAIN packet: iif "veth-c" ... ip saddr A ip daddr B ... tcp sport..
//   trace id ID FAMILY TABLE CHAIN rule RULE TEXT # handle N (verdict V)
//   trace id ID FAMILY TABLE CHAIN verdict V      (return from a chain reached by jump)
//   trace id ID FAMILY TABLE CHAIN policy P
#include "trace_event.hpp"

#include <regex>
#include <sstream>
#include <vector>

namespace tplab {

namespace {

std::string afterWord(const std::string& text, const std::string& key) {
    // "key value" anywhere in the line, at a word boundary.
    std::size_t at = 0;
    while ((at = text.find(key + " ", at)) != std::string::npos) {
        if (at == 0 || text[at - 1] == ' ') {
            std::size_t begin = at + key.size() + 1;
            std::size_t end = text.find(' ', begin);
            return text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
        }
        at += key.size();
    }
    return "";
}

std::uint16_t portOf(const std::string& text) {
    if (text.empty() || text.size() > 5 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        return 0;
    unsigned long value = std::stoul(text);
    return value <= 65535 ? static_cast<std::uint16_t>(value) : 0;
}

std::string unquote(std::string text) {
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
        return text.substr(1, text.size() - 2);
    return text;
}

// nft prints one flag by name ("syn") and a combination in hex ("0x12"): names for both.
std::string tcpFlagNames(std::string flags) {
    while (!flags.empty() && flags.back() == ' ')
        flags.pop_back();
    if (flags.rfind("0x", 0) != 0)
        return flags;
    unsigned long bits = std::stoul(flags, nullptr, 16);
    static const std::pair<unsigned long, const char*> names[] = {
        {0x01, "fin"}, {0x02, "syn"}, {0x04, "rst"}, {0x08, "psh"},
        {0x10, "ack"}, {0x20, "urg"}, {0x40, "ecn"}, {0x80, "cwr"}};
    std::string text;
    for (const auto& [bit, name] : names) {
        if (bits & bit)
            text += (text.empty() ? "" : "|") + std::string(name);
    }
    return text.empty() ? flags : text;
}

PacketHeaders parsePacket(const std::string& text) {
    PacketHeaders packet;
    packet.iif = unquote(afterWord(text, "iif"));
    packet.oif = unquote(afterWord(text, "oif"));
    if (!(packet.saddr = afterWord(text, "ip saddr")).empty()) {
        packet.family = 4;
        packet.daddr = afterWord(text, "ip daddr");
    } else if (!(packet.saddr = afterWord(text, "ip6 saddr")).empty()) {
        packet.family = 6;
        packet.daddr = afterWord(text, "ip6 daddr");
    }
    for (const char* proto : {"tcp", "udp"}) {
        std::string sport = afterWord(text, std::string(proto) + " sport");
        if (!sport.empty()) {
            packet.protocol = proto;
            packet.sport = portOf(sport);
            packet.dport = portOf(afterWord(text, std::string(proto) + " dport"));
        }
    }
    static const std::regex flags(R"(tcp flags == ([a-z0-9|x ]+?)(?: tcp |$| $))");
    std::smatch match;
    if (std::regex_search(text, match, flags))
        packet.tcpFlags = tcpFlagNames(match[1]);
    std::string mark = afterWord(text, "meta mark");
    if (!mark.empty()) {
        packet.hasMark = true;
        packet.mark = static_cast<std::uint32_t>(std::stoul(mark, nullptr, 0));
    }
    return packet;
}

// "counter packets 3 bytes 180" changes with every packet; the rule is the rule without it.
std::string withoutCounters(const std::string& rule) {
    static const std::regex counters(R"(counter packets [0-9]+ bytes [0-9]+)");
    return std::regex_replace(rule, counters, "counter");
}

}  // namespace

std::optional<TraceEvent> parseTraceLine(const std::string& rawLine, double time) {
    std::string line = rawLine;
    while (!line.empty() && (line.back() == ' ' || line.back() == '\n' || line.back() == '\r'))
        line.pop_back();
    std::istringstream words(line);
    std::string trace, idWord;
    TraceEvent event;
    event.time = time;
    if (!(words >> trace >> idWord >> event.id >> event.family >> event.table >> event.chain) ||
        trace != "trace" || idWord != "id")
        return std::nullopt;
    std::string kind;
    words >> kind;
    std::string rest;
    std::getline(words, rest);
    if (!rest.empty() && rest.front() == ' ')
        rest.erase(0, 1);
    if (kind == "packet:") {
        event.kind = TraceEvent::Kind::Packet;
        event.packet = parsePacket(" " + rest);
    } else if (kind == "rule") {
        event.kind = TraceEvent::Kind::Rule;
        static const std::regex tail(R"(^(.*?)(?: # handle ([0-9]+))? \(verdict ([^)]*)\)$)");
        std::smatch match;
        if (!std::regex_match(rest, match, tail))
            return std::nullopt;
        event.rule = withoutCounters(match[1]);
        if (match[2].matched)
            event.handle = std::stol(match[2]);
        event.verdict = match[3];
    } else if (kind == "verdict" || kind == "policy") {
        // "policy accept meta mark 0x00000005": nft adds the packet's mark, when it has one,
        // to policy and return lines only (not to packet lines).
        event.kind = kind == "verdict" ? TraceEvent::Kind::Return : TraceEvent::Kind::Policy;
        std::size_t meta = rest.find(" meta mark ");
        event.verdict = rest.substr(0, meta);
        if (meta != std::string::npos) {
            event.packet.hasMark = true;
            event.packet.mark =
                static_cast<std::uint32_t>(std::stoul(rest.substr(meta + 11), nullptr, 0));
        }
    } else {
        return std::nullopt;
    }
    return event;
}

}  // namespace tplab
