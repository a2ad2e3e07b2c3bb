// The sk-lookup backend's BPF program, loaded and attached to this process's network namespace
// for as long as the object lives (modes/bpf/tplab_sk_lookup.bpf.c, docs/sk-lookup.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sk_lookup_prefix.hpp"

struct tplab_sk_lookup;
struct bpf_link;

namespace tplab {

// The port map's size in modes/bpf/tplab_sk_lookup.bpf.c: (protocol, port) pairs at most.
inline constexpr std::size_t kMaxSteeredPorts = 1024;

// One intercepted destination port of one protocol (IPPROTO_TCP or IPPROTO_UDP).
struct SteeredPort {
    int protocol = 0;
    std::uint16_t port = 0;
};

// The program's socket slots, as the BPF program computes them.
enum class SteeringSlot : std::uint32_t { TcpV4 = 0, TcpV6 = 1, UdpV4 = 2, UdpV6 = 3 };

// What the program counted since it was attached, summed over the CPUs.
struct SteeringCounters {
    std::uint64_t steered = 0;
    std::uint64_t noSocket = 0;
    std::uint64_t assignFailed = 0;
    std::uint64_t outsidePrefixes = 0;  // a steered port, but a destination in no --prefix
};

// Loads the program, fills its port map and its prefix tries (give everyDestination() to steer
// whatever the destination), and attaches it with a BPF link to the network
// namespace the process is in. The link is not pinned: it is an fd of this process, so the
// kernel detaches the program when the process ends, however it ends (SIGKILL included), and
// there is nothing for `tplab rules --remove` to clean up. Throws std::runtime_error with one
// line naming the step that failed and why (a kernel without BPF sk_lookup, no CAP_BPF).
class SkLookupProgram {
  public:
    SkLookupProgram(const std::vector<SteeredPort>& ports,
                    const std::vector<SteeredPrefix>& prefixes);
    ~SkLookupProgram();
    SkLookupProgram(const SkLookupProgram&) = delete;
    SkLookupProgram& operator=(const SkLookupProgram&) = delete;

    // Puts a listening TCP or bound UDP socket into `slot`, replacing what was there.
    void setSocket(SteeringSlot slot, int fd);
    [[nodiscard]] SteeringCounters counters() const;
    // The kernel's id of the attached link, as `bpftool link` shows it.
    [[nodiscard]] std::uint32_t linkId() const;

  private:
    tplab_sk_lookup* skeleton_ = nullptr;
    bpf_link* link_ = nullptr;
};

// The key the program looks ports up by: protocol << 16 | port.
inline std::uint32_t steeringKey(const SteeredPort& port) {
    return static_cast<std::uint32_t>(port.protocol) << 16 | port.port;
}

}  // namespace tplab
