#include "sk_lookup_links.hpp"

#include <bpf/bpf.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <fstream>
#include <functional>

#include "fd.hpp"

namespace tplab {
namespace {

// The link id in an fd's /proc fdinfo ("link_id:\t12"), 0 for an fd that is not a BPF link.
std::uint32_t linkIdIn(const std::string& fdinfo) {
    std::ifstream in(fdinfo);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("link_id:", 0) == 0) {
            return static_cast<std::uint32_t>(std::strtoul(line.c_str() + 8, nullptr, 10));
        }
    }
    return 0;
}

std::vector<std::string> entries(const std::string& directory) {
    std::vector<std::string> names;
    if (DIR* dir = ::opendir(directory.c_str())) {
        while (dirent* entry = ::readdir(dir)) {
            std::string name = entry->d_name;
            if (name != "." && name != "..") {
                names.push_back(name);
            }
        }
        ::closedir(dir);
    }
    return names;
}

// The processes with an fd of link `id`: what bpftool finds with its pid iterator, read here
// from /proc (root sees every process's fds).
std::vector<pid_t> holdersOf(std::uint32_t id) {
    std::vector<pid_t> holders;
    for (const auto& pid : entries("/proc")) {
        if (pid.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        for (const auto& fd : entries("/proc/" + pid + "/fd")) {
            char target[64] = {};
            auto length =
                ::readlink(("/proc/" + pid + "/fd/" + fd).c_str(), target, sizeof(target) - 1);
            if (length > 0 && std::strcmp(target, "anon_inode:bpf_link") == 0 &&
                linkIdIn("/proc/" + pid + "/fdinfo/" + fd) == id) {
                holders.push_back(static_cast<pid_t>(std::stol(pid)));
                break;
            }
        }
    }
    return holders;
}

// Pinned links under the bpffs mount (depth-limited): path -> link id, via bpf_obj_get.
void findPins(const std::string& directory, int depth, std::uint32_t id,
              std::vector<std::string>& pins) {
    if (depth > 4) {
        return;
    }
    for (const auto& name : entries(directory)) {
        std::string path = directory + "/" + name;
        struct stat info {};
        if (::lstat(path.c_str(), &info) != 0) {
            continue;
        }
        if (S_ISDIR(info.st_mode)) {
            findPins(path, depth + 1, id, pins);
        } else if (S_ISREG(info.st_mode)) {
            Fd object(bpf_obj_get(path.c_str()));
            if (object.valid() &&
                linkIdIn("/proc/self/fdinfo/" + std::to_string(object.get())) == id) {
                pins.push_back(path);
            }
        }
    }
}

// Which of `ports` the program's tplab_ports map holds; all of them when it cannot be read.
std::vector<SteeredPort> steeredOf(std::uint32_t programId, const std::vector<SteeredPort>& ports) {
    Fd program(bpf_prog_get_fd_by_id(programId));
    bpf_prog_info info{};
    std::uint32_t length = sizeof(info);
    if (!program.valid() || bpf_obj_get_info_by_fd(program.get(), &info, &length) != 0 ||
        std::strcmp(info.name, "tplab_steer") != 0) {
        return {};  // not tplab's program (or gone): not this check's business
    }
    std::vector<std::uint32_t> mapIds(info.nr_map_ids);
    bpf_prog_info withMaps{};
    withMaps.nr_map_ids = info.nr_map_ids;
    withMaps.map_ids = reinterpret_cast<std::uintptr_t>(mapIds.data());
    length = sizeof(withMaps);
    if (!mapIds.empty() && bpf_obj_get_info_by_fd(program.get(), &withMaps, &length) == 0) {
        for (auto mapId : mapIds) {
            Fd map(bpf_map_get_fd_by_id(mapId));
            bpf_map_info mapInfo{};
            std::uint32_t mapLength = sizeof(mapInfo);
            if (!map.valid() || bpf_obj_get_info_by_fd(map.get(), &mapInfo, &mapLength) != 0 ||
                std::strcmp(mapInfo.name, "tplab_ports") != 0) {
                continue;
            }
            std::vector<SteeredPort> steered;
            for (const auto& port : ports) {
                std::uint32_t key = steeringKey(port);
                std::uint8_t value = 0;
                if (bpf_map_lookup_elem(map.get(), &key, &value) == 0) {
                    steered.push_back(port);
                }
            }
            return steered;
        }
    }
    return ports;
}

}  // namespace

std::vector<SteeringLink> steeringLinksFor(const std::vector<SteeredPort>& ports) {
    std::vector<SteeringLink> found;
    struct stat netns {};
    if (::stat("/proc/self/ns/net", &netns) != 0) {
        return found;
    }
    std::uint32_t id = 0;
    while (bpf_link_get_next_id(id, &id) == 0) {
        Fd link(bpf_link_get_fd_by_id(id));
        bpf_link_info info{};
        std::uint32_t length = sizeof(info);
        if (!link.valid() || bpf_obj_get_info_by_fd(link.get(), &info, &length) != 0 ||
            info.type != BPF_LINK_TYPE_NETNS || info.netns.attach_type != BPF_SK_LOOKUP ||
            info.netns.netns_ino != netns.st_ino) {
            continue;
        }
        SteeringLink steering;
        steering.linkId = info.id;
        steering.programId = info.prog_id;
        steering.ports = steeredOf(info.prog_id, ports);
        if (steering.ports.empty()) {
            continue;
        }
        steering.holders = holdersOf(info.id);
        findPins("/sys/fs/bpf", 0, info.id, steering.pins);
        found.push_back(steering);
    }
    return found;
}

std::string describe(const SteeringLink& link) {
    std::string ports;
    for (const auto& port : link.ports) {
        ports += std::string(ports.empty() ? "" : ", ") +
                 (port.protocol == IPPROTO_UDP ? "udp " : "tcp ") + std::to_string(port.port);
    }
    std::string who;
    for (auto pid : link.holders) {
        std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
        std::string name;
        std::getline(comm, name);
        who += std::string(who.empty() ? "; held by " : ", ") + "pid " + std::to_string(pid) +
               (name.empty() ? "" : " (" + name + ")");
    }
    for (const auto& pin : link.pins) {
        who += "; pinned at " + pin;
    }
    return ports + " already steered in this network namespace by BPF link " +
           std::to_string(link.linkId) + " (program " + std::to_string(link.programId) +
           " tplab_steer" + who + ")";
}

}  // namespace tplab
