// One skb:kfree_skb event from tracefs: when, which protocol, where in the kernel, and why.
#pragma once

#include <optional>
#include <string>

namespace tplab {

struct DropEvent {
    double time = 0;        // the instance's trace_clock (mono): CLOCK_MONOTONIC seconds
    unsigned protocol = 0;  // the skb's ethertype: 2048 IPv4, 34525 IPv6
    std::string location;   // the function that freed the packet, e.g. "nft_do_chain"
    std::string reason;     // enum skb_drop_reason without SKB_DROP_REASON_: "NO_SOCKET"
};

// Parses one line of trace_pipe; nullopt for anything that is not a kfree_skb event.
std::optional<DropEvent> parseDropLine(const std::string& line);

// The reason in plain words, for the reasons a transparent proxy meets; empty otherwise.
std::string explainDropReason(const std::string& reason);

}  // namespace tplab
