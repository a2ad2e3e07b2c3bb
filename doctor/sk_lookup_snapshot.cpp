#include "sk_lookup_snapshot.hpp"

#include <bpf/bpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "fd.hpp"
#include "result.hpp"

namespace tplab {
namespace {

// The slots of the program's socket map that hold a socket; a lookup of an empty slot fails.
std::vector<std::uint32_t> filledSlots(int mapFd, std::uint32_t slots) {
    std::vector<std::uint32_t> filled;
    for (std::uint32_t key = 0; key < slots; ++key) {
        std::uint64_t cookie = 0;
        if (bpf_map_lookup_elem(mapFd, &key, &cookie) == 0) {
            filled.push_back(key);
        }
    }
    return filled;
}

// The program's name, and its socket map when it has one named tplab_sockets.
void describeProgram(SkLookupLinkInfo& link) {
    Fd program(bpf_prog_get_fd_by_id(link.programId));
    if (!program.valid()) {
        return;
    }
    bpf_prog_info info{};
    std::uint32_t length = sizeof(info);
    if (bpf_obj_get_info_by_fd(program.get(), &info, &length) != 0) {
        return;
    }
    link.programName = info.name;
    std::vector<std::uint32_t> mapIds(info.nr_map_ids);
    bpf_prog_info withMaps{};
    withMaps.nr_map_ids = info.nr_map_ids;
    withMaps.map_ids = reinterpret_cast<std::uintptr_t>(mapIds.data());
    length = sizeof(withMaps);
    if (mapIds.empty() || bpf_obj_get_info_by_fd(program.get(), &withMaps, &length) != 0) {
        return;
    }
    for (auto mapId : mapIds) {
        Fd map(bpf_map_get_fd_by_id(mapId));
        bpf_map_info mapInfo{};
        std::uint32_t mapLength = sizeof(mapInfo);
        if (!map.valid() || bpf_obj_get_info_by_fd(map.get(), &mapInfo, &mapLength) != 0) {
            continue;
        }
        if (std::strcmp(mapInfo.name, "tplab_sockets") == 0 &&
            mapInfo.type == BPF_MAP_TYPE_SOCKMAP) {
            link.socketMapFound = true;
            link.filledSlots = filledSlots(map.get(), mapInfo.max_entries);
        }
    }
}

}  // namespace

SkLookupSnapshot readSkLookupState() {
    SkLookupSnapshot snapshot;
    struct stat netns {};
    if (::stat("/proc/self/ns/net", &netns) != 0) {
        snapshot.error = "stat /proc/self/ns/net: " + errnoText(errno);
        return snapshot;
    }
    std::uint32_t id = 0;
    while (bpf_link_get_next_id(id, &id) == 0) {
        Fd link(bpf_link_get_fd_by_id(id));
        if (!link.valid()) {
            if (errno == EPERM || errno == EACCES) {
                snapshot.error = "reading BPF links: " + errnoText(errno) + " (needs root)";
                return snapshot;
            }
            continue;  // detached since the id was listed
        }
        bpf_link_info info{};
        std::uint32_t length = sizeof(info);
        if (bpf_obj_get_info_by_fd(link.get(), &info, &length) != 0 ||
            info.type != BPF_LINK_TYPE_NETNS || info.netns.attach_type != BPF_SK_LOOKUP ||
            info.netns.netns_ino != netns.st_ino) {
            continue;
        }
        SkLookupLinkInfo found;
        found.linkId = info.id;
        found.programId = info.prog_id;
        describeProgram(found);
        snapshot.links.push_back(found);
    }
    if (errno == EPERM && snapshot.links.empty() && id == 0) {
        snapshot.error = "listing BPF links: " + errnoText(EPERM) + " (needs root)";
    }
    return snapshot;
}

}  // namespace tplab
