// The sk_lookup programs already attached to this network namespace, and who holds them: asked
// before tplab attaches its own, so that a second `tplab proxy --mode sk-lookup` on a port the
// first one steers (or a leftover pinned program) is refused instead of silently losing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sk_lookup_program.hpp"

namespace tplab {

// A tplab_steer program attached to this namespace, as the kernel describes it.
struct SteeringLink {
    std::uint32_t linkId = 0;
    std::uint32_t programId = 0;
    std::vector<SteeredPort> ports;  // the ports it steers that were asked about
    std::vector<pid_t> holders;      // processes with an fd of the link (/proc/PID/fdinfo)
    std::vector<std::string> pins;   // where it is pinned under /sys/fs/bpf
};

// The tplab_steer links attached to this namespace that steer any of `ports` (a link whose port
// map cannot be read counts as steering them all). Empty when the BPF objects cannot be listed.
std::vector<SteeringLink> steeringLinksFor(const std::vector<SteeredPort>& ports);

// One line naming the link, its program, its holders and pins: for the refusal.
std::string describe(const SteeringLink& link);

}  // namespace tplab
