#include "sk_lookup_program.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>

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

}  // namespace

SkLookupProgram::SkLookupProgram(const std::vector<SteeredPort>& ports) {
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
    std::uint64_t* fields[] = {&total.steered, &total.noSocket, &total.assignFailed};
    for (std::uint32_t key = 0; key < 3; ++key) {
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
