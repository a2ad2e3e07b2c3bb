// kfree_skb lines look like (print fmt of include/trace/events/skb.h, 6.x):
//   <task>-<pid> [cpu] flags  820.850078: kfree_skb: skbaddr=.. rx_sk=.. protocol=2048
//   location=nft_do_chain+0x46f/0x690 reason: NETFILTER_DROP
#include "drop_event.hpp"

#include <map>
#include <regex>

namespace tplab {

std::optional<DropEvent> parseDropLine(const std::string& line) {
    static const std::regex pattern(
        R"(\s([0-9]+\.[0-9]+): kfree_skb: .*protocol=([0-9]+) location=([A-Za-z0-9_.]+)(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?.* reason: ([A-Z0-9_]+))");
    std::smatch match;
    if (!std::regex_search(line, match, pattern))
        return std::nullopt;
    DropEvent event;
    event.time = std::stod(match[1]);
    event.protocol = static_cast<unsigned>(std::stoul(match[2]));
    event.location = match[3];
    event.reason = match[4];
    return event;
}

std::string explainDropReason(const std::string& reason) {
    static const std::map<std::string, std::string> words = {
        {"NETFILTER_DROP", "a netfilter rule or target returned DROP"},
        {"NO_SOCKET", "no socket wanted the packet (nothing listens, or the lookup found none)"},
        {"IP_RPFILTER", "reverse-path filter: the source is not routed back via this interface"},
        {"IP_INNOROUTES", "no route for the packet"},
        {"IP_OUTNOROUTES", "no route out for the packet"},
        {"IP_INVALID_SOURCE", "the source address is invalid here (a martian)"},
        {"IP_LOCAL_SOURCE", "the source address is one of this host's own"},
        {"IP_INADDRERRORS", "the destination address is invalid"},
        {"OTHERHOST", "the frame was for another host"},
        {"TCP_LISTEN_OVERFLOW", "the listener's accept queue is full"},
        {"TCP_FLAGS", "TCP flags that make no sense for this socket's state"},
        {"TCP_RESET", "a reset for this connection"},
        {"TCP_CLOSE", "the socket was already closed"},
        {"TCP_INVALID_SYN", "a SYN the connection did not expect"},
        {"TCP_OLD_ACK", "an ACK for data already acknowledged"},
        {"SOCKET_FILTER", "a socket filter (BPF) refused the packet"},
        {"NOT_SPECIFIED", "the freeing code gave no reason"},
    };
    auto found = words.find(reason);
    return found == words.end() ? "" : found->second;
}

}  // namespace tplab
