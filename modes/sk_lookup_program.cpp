#include "sk_lookup_program.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "fd.hpp"
#include "log.hpp"
#include "result.hpp"
#include "tplab_sk_lookup.skel.h"

namespace tplab {
namespace {

[[noreturn]] void fail(const std::string& step, int error) {
    error = error < 0 ? -error : error;
    std::string text = "sk-lookup: " + step + ": " + errnoText(error);
    if (error == EPERM) {
        text += " (needs root, or CAP_BPF and CAP_NET_ADMIN)";
    } else if (error == EINVAL || error == ENOTSUP) {
        text += " (does this kernel have BPF sk_lookup? It needs Linux 5.9 or later)";
    }
    throw std::runtime_error(text);
}

// libbpf's own messages (they start with "libbpf: "): its warnings as tplab's debug lines (-v),
// since the error tplab then throws says what failed in one line; its debug chatter nowhere.
int forwardLibbpfMessage(libbpf_print_level level, const char* format, va_list args) {
    if (level != LIBBPF_WARN) {
        return 0;
    }
    char line[512];
    int length = std::vsnprintf(line, sizeof(line), format, args);
    std::string text(line, length > 0 ? std::min<std::size_t>(length, sizeof(line) - 1) : 0);
    while (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    log::debug(text);
    return length;
}

// The keys of the program's tries, struct tplab_prefix4 and tplab_prefix6: a length, then the
// address in network order.
struct Prefix4Key {
    std::uint32_t prefixlen;
    std::uint8_t address[4];
};
struct Prefix6Key {
    std::uint32_t prefixlen;
    std::uint8_t address[16];
};
static_assert(sizeof(Prefix4Key) == 8 && sizeof(Prefix6Key) == 20);

void addPrefix(const tplab_sk_lookup& skeleton, const SteeredPrefix& prefix) {
    std::uint8_t yes = 1;
    int result = 0;
    if (prefix.family == AF_INET) {
        Prefix4Key key{prefix.length, {}};
        std::copy_n(prefix.address.begin(), 4, key.address);
        result =
            bpf_map_update_elem(bpf_map__fd(skeleton.maps.tplab_prefixes4), &key, &yes, BPF_ANY);
    } else {
        Prefix6Key key{prefix.length, {}};
        std::copy_n(prefix.address.begin(), 16, key.address);
        result =
            bpf_map_update_elem(bpf_map__fd(skeleton.maps.tplab_prefixes6), &key, &yes, BPF_ANY);
    }
    if (result != 0) {
        fail("adding " + prefix.text() + " to the prefix map", errno);
    }
}

}  // namespace

SkLookupProgram::SkLookupProgram(const std::vector<SteeredPort>& ports,
                                 const std::vector<SteeredPrefix>& prefixes) {
    libbpf_set_print(forwardLibbpfMessage);
    skeleton_ = tplab_sk_lookup__open_and_load();
    if (skeleton_ == nullptr) {
        fail("loading the BPF program", errno);
    }
    try {
        std::uint8_t yes = 1;
        for (const auto& port : ports) {
            std::uint32_t key = steeringKey(port);
            if (bpf_map_update_elem(bpf_map__fd(skeleton_->maps.tplab_ports), &key, &yes,
                                    BPF_ANY) != 0) {
                fail("filling the port map", errno);
            }
        }
        for (const auto& prefix : prefixes) {
            addPrefix(*skeleton_, prefix);
        }
        Fd netns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
        if (!netns.valid()) {
            fail("opening /proc/self/ns/net", errno);
        }
        link_ = bpf_program__attach_netns(skeleton_->progs.tplab_steer, netns.get());
        if (link_ == nullptr) {
            fail("attaching the program to the network namespace", errno);
        }
    } catch (...) {
        tplab_sk_lookup__destroy(skeleton_);
        throw;
    }
}

SkLookupProgram::~SkLookupProgram() {
    bpf_link__destroy(link_);
    tplab_sk_lookup__destroy(skeleton_);
}

void SkLookupProgram::setSocket(SteeringSlot slot, int fd) {
    auto key = static_cast<std::uint32_t>(slot);
    auto value = static_cast<std::uint64_t>(fd);
    if (bpf_map_update_elem(bpf_map__fd(skeleton_->maps.tplab_sockets), &key, &value, BPF_ANY) !=
        0) {
        fail("putting socket " + std::to_string(fd) + " into the socket map", errno);
    }
}

SteeringCounters SkLookupProgram::counters() const {
    int cpus = libbpf_num_possible_cpus();
    SteeringCounters total;
    if (cpus <= 0) {
        return total;
    }
    std::vector<std::uint64_t> perCpu(static_cast<std::size_t>(cpus));
    std::uint64_t* fields[] = {&total.steered, &total.noSocket, &total.assignFailed,
                               &total.outsidePrefixes};
    for (std::uint32_t key = 0; key < 4; ++key) {
        if (bpf_map_lookup_elem(bpf_map__fd(skeleton_->maps.tplab_counters), &key, perCpu.data()) !=
            0) {
            continue;
        }
        for (auto value : perCpu) {
            *fields[key] += value;
        }
    }
    return total;
}

std::uint32_t SkLookupProgram::linkId() const {
    bpf_link_info info{};
    std::uint32_t length = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_link__fd(link_), &info, &length) != 0) {
        return 0;
    }
    return info.id;
}

}  // namespace tplab
