// What the kernel holds for BPF sk_lookup in this network namespace: the links attached to it,
// their programs, and which of tplab's socket-map slots hold a socket. Read with libbpf's
// object-id iteration, the way `bpftool link` does; BPF objects are not per namespace, so the
// links are filtered by the namespace's inode.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tplab {

struct SkLookupLinkInfo {
    std::uint32_t linkId = 0;
    std::uint32_t programId = 0;
    std::string programName;                 // "tplab_steer" for tplab's
    bool socketMapFound = false;             // the program uses a map named tplab_sockets
    std::vector<std::uint32_t> filledSlots;  // its slots that hold a socket (0 TCP/v4 ... 3 UDP/v6)
};

struct SkLookupSnapshot {
    std::string error;  // why the objects could not be read (no privilege), empty when they could
    std::vector<SkLookupLinkInfo> links;  // attached to this namespace, in id order
};

SkLookupSnapshot readSkLookupState();

}  // namespace tplab
