// Text: one line per step, the step's name in a column of its own, wrapped to 100 columns.
// JSON: the same facts, each step with "inferred" where tplab worked it out.
#include "trace_output.hpp"

#include <cstdio>
#include <sstream>

namespace tplab {

namespace {

constexpr std::size_t kWidth = 100;
constexpr std::size_t kLabelWidth = 14;

std::string hex(std::uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof(text), "0x%x", value);
    return text;
}

// `lead` then `text`, wrapped at word boundaries; continuation lines indented to `indent`.
void wrapped(std::ostringstream& out, const std::string& lead, const std::string& text,
             std::size_t indent) {
    std::istringstream words(text);
    std::string word, line = lead;
    bool empty = true;
    while (words >> word) {
        if (!empty && line.size() + 1 + word.size() > kWidth) {
            out << line << "\n";
            line = std::string(indent, ' ');
            empty = true;
        }
        line += (empty ? "" : " ") + word;
        empty = false;
    }
    out << line << "\n";
}

std::string label(const std::string& name) {
    std::string text = "    " + name;
    return text +
           std::string(text.size() < 4 + kLabelWidth ? 4 + kLabelWidth - text.size() : 1, ' ');
}

std::string packetLine(const PacketHeaders& h) {
    std::string from = h.family == 6 ? "[" + h.saddr + "]" : h.saddr;
    std::string to = h.family == 6 ? "[" + h.daddr + "]" : h.daddr;
    std::string text =
        from + ":" + std::to_string(h.sport) + " -> " + to + ":" + std::to_string(h.dport);
    if (!h.tcpFlags.empty())
        text += " [" + h.tcpFlags + "]";
    return text;
}

std::string fateText(const PacketTrace& packet) {
    if (packet.drop) {
        std::string words = explainDropReason(packet.drop->reason);
        return "DROPPED: the kernel says " + packet.drop->reason + " in " + packet.drop->location +
               "()" + (words.empty() ? "" : ": " + words);
    }
    if (packet.fate == "dropped")
        return "DROPPED by the rule above (no kfree_skb event was tied to it)";
    if (packet.fate == "sent") {
        for (auto it = packet.steps.rbegin(); it != packet.steps.rend(); ++it) {
            if (it->kind == JourneyStep::Kind::Hook && !it->oif.empty())
                return "sent out of " + it->oif;
        }
        return "sent";
    }
    if (packet.fate == "delivered")
        return "delivered to a socket of this host (no drop followed)";
    std::string last;
    for (const auto& step : packet.steps) {
        if (step.kind == JourneyStep::Kind::Hook)
            last = step.hook;
    }
    return "vanished after " + (last.empty() ? std::string("its first hook") : last) +
           " and the kernel reported no drop tied to it";
}

const char* kindName(JourneyStep::Kind kind) {
    switch (kind) {
        case JourneyStep::Kind::Hook:
            return "hook";
        case JourneyStep::Kind::Rule:
            return "rule";
        case JourneyStep::Kind::Policy:
            return "policy";
        case JourneyStep::Kind::Routing:
            return "routing";
        case JourneyStep::Kind::Socket:
            return "socket";
        case JourneyStep::Kind::Drop:
            return "drop";
        case JourneyStep::Kind::End:
            return "end";
    }
    return "step";
}

void stepText(std::ostringstream& out, const JourneyStep& step) {
    std::string indent(4 + kLabelWidth, ' ');
    switch (step.kind) {
        case JourneyStep::Kind::Hook: {
            std::string text;
            if (!step.iif.empty())
                text += "in " + step.iif;
            if (!step.oif.empty())
                text += std::string(text.empty() ? "" : ", ") + "out " + step.oif;
            if (step.mark != 0)
                text += std::string(text.empty() ? "" : ", ") + "mark " + hex(step.mark);
            if (!step.text.empty())
                text += std::string(text.empty() ? "" : "; ") + step.text;
            wrapped(out, label(step.hook), text, indent.size());
            break;
        }
        case JourneyStep::Kind::Rule:
        case JourneyStep::Kind::Policy: {
            std::string where = step.table + " " + step.chain;
            if (!step.priority.empty())
                where += step.priority == "jump" ? " (reached by a jump)"
                                                 : ", priority " + step.priority;
            std::string what = step.kind == JourneyStep::Kind::Policy
                                   ? "chain policy " + step.verdict
                                   : "rule " + std::to_string(step.handle) + " -> " + step.verdict;
            wrapped(out, indent, where + ": " + what, indent.size());
            std::string text = step.iptables.empty() ? step.rule : step.iptables;
            if (!text.empty())
                wrapped(out, indent + "  ", text, indent.size() + 2);
            break;
        }
        case JourneyStep::Kind::Routing:
        case JourneyStep::Kind::Socket:
            wrapped(out, label(kindName(step.kind)),
                    step.text + (step.inferred ? " (inferred)" : ""), indent.size());
            break;
        case JourneyStep::Kind::Drop:
        case JourneyStep::Kind::End:
            wrapped(out, label(kindName(step.kind)), step.text, indent.size());
            break;
    }
}

}  // namespace

std::string journeyText(const Journey& journey, const TraceContext& context) {
    std::ostringstream out;
    wrapped(out, "",
            "tplab trace: " + context.filter + " in " +
                (context.netns.empty() ? "this namespace" : "namespace " + context.netns) + ": " +
                std::to_string(journey.packetsTraced) +
                (journey.packetsTraced == 1 ? " packet traced" : " packets traced"),
            2);
    for (const auto& note : context.notes)
        wrapped(out, "note: ", note, 6);
    if (!context.dropsFrom.empty()) {
        wrapped(out, "",
                "drop reasons: skb:kfree_skb in " + context.dropsFrom + ": " +
                    std::to_string(journey.dropsInWindow) +
                    (journey.dropsInWindow == 1 ? " drop" : " drops") +
                    " of this protocol while tracing, " + std::to_string(journey.dropsTied) +
                    " tied to the flow",
                2);
    }
    if (journey.legs.empty())
        out << "no packet of the flow was seen (did the traffic start after tracing did?)\n";
    int number = 0;
    for (const auto& leg : journey.legs) {
        out << "\nconnection " << ++number << " (" << leg.protocol << "): " << leg.client << " -> "
            << leg.server << "\n";
        int packetNumber = 0;
        for (const auto& packet : leg.packets) {
            std::string head =
                "  packet " + std::to_string(++packetNumber) + ": " + packetLine(packet.headers);
            if (packet.copies > 1)
                head += ", " + std::to_string(packet.copies) + " times, the same way";
            out << head << "\n";
            for (const auto& step : packet.steps)
                stepText(out, step);
            wrapped(out, "    => ", fateText(packet), 7);
        }
        if (leg.packetsNotShown > 0)
            out << "  (" << leg.packetsNotShown << " more packets not shown; --packets shows "
                << "more)\n";
    }
    if (journey.legsNotShown > 0)
        out << "\n(" << journey.legsNotShown << " more connections not shown; --legs shows more)\n";
    if (context.allDrops && !journey.untiedDrops.empty()) {
        out << "\ndrops while tracing that were not tied to the flow (any namespace):\n";
        for (const auto& drop : journey.untiedDrops)
            out << "  " << drop.reason << " in " << drop.location << "()\n";
    }
    return out.str();
}

nlohmann::ordered_json journeyJson(const Journey& journey, const TraceContext& context) {
    nlohmann::ordered_json root = {{"netns", context.netns},
                                   {"filter", context.filter},
                                   {"notes", context.notes},
                                   {"drops_from", context.dropsFrom},
                                   {"packets_traced", journey.packetsTraced},
                                   {"drops_in_window", journey.dropsInWindow},
                                   {"drops_tied", journey.dropsTied},
                                   {"legs", nlohmann::ordered_json::array()}};
    for (const auto& leg : journey.legs) {
        nlohmann::ordered_json legJson = {{"protocol", leg.protocol},
                                          {"client", leg.client},
                                          {"server", leg.server},
                                          {"packets_not_shown", leg.packetsNotShown},
                                          {"packets", nlohmann::ordered_json::array()}};
        for (const auto& packet : leg.packets) {
            const auto& h = packet.headers;
            nlohmann::ordered_json packetJson = {
                {"trace_ids", packet.ids}, {"copies", packet.copies},
                {"family", h.family},      {"saddr", h.saddr},
                {"sport", h.sport},        {"daddr", h.daddr},
                {"dport", h.dport},        {"tcp_flags", h.tcpFlags},
                {"fate", packet.fate},     {"steps", nlohmann::ordered_json::array()}};
            for (const auto& step : packet.steps) {
                nlohmann::ordered_json s = {{"kind", kindName(step.kind)}};
                if (!step.hook.empty())
                    s["hook"] = step.hook;
                if (step.kind == JourneyStep::Kind::Hook) {
                    s["iif"] = step.iif;
                    s["oif"] = step.oif;
                    s["mark"] = step.mark;
                }
                if (step.kind == JourneyStep::Kind::Rule ||
                    step.kind == JourneyStep::Kind::Policy) {
                    s["table"] = step.table;
                    s["chain"] = step.chain;
                    s["priority"] = step.priority;
                    s["handle"] = step.handle;
                    s["rule"] = step.rule;
                    s["iptables"] = step.iptables;
                    s["verdict"] = step.verdict;
                }
                if (!step.text.empty())
                    s["text"] = step.text;
                s["inferred"] = step.inferred;
                packetJson["steps"].push_back(s);
            }
            if (packet.drop) {
                packetJson["drop"] = {{"reason", packet.drop->reason},
                                      {"location", packet.drop->location},
                                      {"explanation", explainDropReason(packet.drop->reason)}};
            } else {
                packetJson["drop"] = nullptr;
            }
            packetJson["summary"] = fateText(packet);
            legJson["packets"].push_back(packetJson);
        }
        root["legs"].push_back(legJson);
    }
    root["legs_not_shown"] = journey.legsNotShown;
    nlohmann::ordered_json untied = nlohmann::ordered_json::array();
    for (const auto& drop : journey.untiedDrops)
        untied.push_back({{"reason", drop.reason}, {"location", drop.location}});
    root["untied_drops"] = untied;
    return root;
}

}  // namespace tplab
