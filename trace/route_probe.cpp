// The routing step of a journey is inferred: netfilter tracing does not report it. This asks
// the same question the kernel answered, after the fact, with the mark the packet carried.
#include "route_probe.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "shell_command.hpp"

namespace tplab {

namespace {

bool validAddress(const std::string& text, int family) {
    unsigned char buffer[16];
    return ::inet_pton(family == 6 ? AF_INET6 : AF_INET, text.c_str(), buffer) == 1;
}

bool validInterface(const std::string& name) {
    return !name.empty() && name.size() <= 15 &&
           name.find_first_not_of(
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@") ==
               std::string::npos;
}

std::string hex(std::uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof(text), "0x%x", value);
    return text;
}

}  // namespace

std::string describeRouteAnswer(const std::string& ipJson) {
    auto parsed = nlohmann::json::parse(ipJson, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_array() || parsed.empty() || !parsed[0].is_object())
        return "";
    const auto& route = parsed[0];
    auto get = [&](const char* field) {
        return route.contains(field) && route[field].is_string() ? route[field].get<std::string>()
                                                                 : std::string();
    };
    std::string type = get("type").empty() ? "unicast" : get("type");
    std::string text = type;
    if (type == "local")
        text += " (deliver to this host)";
    else if (type == "unicast")
        text += " (forward)";
    std::string table = get("table");
    text += ", table " + (table.empty() ? std::string("main") : table);
    if (!get("gateway").empty())
        text += ", via " + get("gateway");
    if (!get("dev").empty())
        text += ", dev " + get("dev");
    return text;
}

std::string probeRoute(const PacketHeaders& packet, std::uint32_t mark) {
    if (!validAddress(packet.saddr, packet.family) || !validAddress(packet.daddr, packet.family))
        return "";
    std::vector<std::string> argv = {"ip",    "-j",        packet.family == 6 ? "-6" : "-4",
                                     "route", "get",       packet.daddr,
                                     "from",  packet.saddr};
    if (validInterface(packet.iif)) {
        argv.push_back("iif");
        argv.push_back(packet.iif);
    }
    argv.push_back("mark");
    argv.push_back(hex(mark));
    if (!packet.protocol.empty() && packet.dport != 0) {
        argv.insert(argv.end(), {"ipproto", packet.protocol, "sport", std::to_string(packet.sport),
                                 "dport", std::to_string(packet.dport)});
    }
    auto outcome = runCommand({argv, ""});
    std::string question = "ip route get " + packet.daddr + " from " + packet.saddr +
                           (validInterface(packet.iif) ? " iif " + packet.iif : "") + " mark " +
                           hex(mark);
    if (outcome.exitCode != 0) {
        std::string error = outcome.output;
        while (!error.empty() && error.back() == '\n')
            error.pop_back();
        return question + ": " + error;
    }
    std::string answer = describeRouteAnswer(outcome.output);
    return answer.empty() ? "" : question + ": " + answer;
}

}  // namespace tplab
