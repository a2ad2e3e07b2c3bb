// The privilege drop, with libcap for the capability sets: cap_set_proc and cap_drop_bound
// name the sets instead of packing the raw capset() bit masks by hand.
#include "privileges.hpp"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>
#include <stdexcept>

#include "result.hpp"

namespace tplab {
namespace {

cap_value_t capValue(Capability capability) {
    switch (capability) {
        case Capability::NetAdmin:
            return CAP_NET_ADMIN;
        case Capability::NetBindService:
            return CAP_NET_BIND_SERVICE;
    }
    return CAP_NET_ADMIN;
}

std::size_t threadCount() {
    std::unique_ptr<DIR, int (*)(DIR*)> tasks(::opendir("/proc/self/task"), ::closedir);
    if (!tasks) {
        return 1;  // no /proc: cannot tell; setuid is process-wide anyway
    }
    std::size_t count = 0;
    while (dirent* entry = ::readdir(tasks.get())) {
        count += entry->d_name[0] != '.';
    }
    return count;
}

using CapState = std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)>;

CapState makeCaps(cap_t caps) {
    return CapState(caps, cap_free);
}

void check(int result, const std::string& call) {
    if (result != 0) {
        throw setupError(errno, call);
    }
}

}  // namespace

std::string toString(Capability capability) {
    switch (capability) {
        case Capability::NetAdmin:
            return "CAP_NET_ADMIN";
        case Capability::NetBindService:
            return "CAP_NET_BIND_SERVICE";
    }
    return "?";
}

TargetUser lookupUser(const std::string& name) {
    if (name.empty()) {
        throw std::invalid_argument("--user: empty user name");
    }
    passwd entry{};
    passwd* found = nullptr;
    std::string buffer(16384, '\0');
    int err = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
        uid_t uid = 0;
        auto [end, parsed] = std::from_chars(name.data(), name.data() + name.size(), uid);
        if (parsed == std::errc() && end == name.data() + name.size()) {
            err = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
        }
    }
    if (found == nullptr) {
        throw std::invalid_argument("--user: no such user '" + name + "'" +
                                    (err != 0 ? " (" + errnoText(err) + ")" : ""));
    }
    return TargetUser{found->pw_name, found->pw_uid, found->pw_gid};
}

void dropPrivileges(const TargetUser& user, const std::vector<Capability>& keep) {
    if (std::size_t threads = threadCount(); threads > 1) {
        throw std::logic_error("dropPrivileges: " + std::to_string(threads) +
                               " threads are running; it must run before any thread starts");
    }
    std::vector<cap_value_t> kept;
    for (auto capability : keep) {
        kept.push_back(capValue(capability));
    }
    // The bounding set first: cutting it needs CAP_SETPCAP, which setuid takes away.
    for (cap_value_t cap = 0; cap < static_cast<cap_value_t>(cap_max_bits()); ++cap) {
        bool wanted = std::find(kept.begin(), kept.end(), cap) != kept.end();
        if (!wanted && CAP_IS_SUPPORTED(cap)) {
            check(cap_drop_bound(cap), "prctl(PR_CAPBSET_DROP, " + std::to_string(cap) + ")");
        }
    }
    check(::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS, 1)");
    check(::setgroups(0, nullptr), "setgroups(0, {})");
    check(::setresgid(user.gid, user.gid, user.gid), "setresgid(" + std::to_string(user.gid) + ")");
    check(::setresuid(user.uid, user.uid, user.uid),
          "setresuid(" + std::to_string(user.uid) + ", user " + user.name + ")");

    // KEEPCAPS kept the permitted set across setuid (effective was cleared): now permitted and
    // effective become exactly `keep`, inheritable nothing.
    auto caps = makeCaps(cap_init());
    if (!caps) {
        throw setupError(errno, "cap_init()");
    }
    if (!kept.empty()) {
        check(cap_set_flag(caps.get(), CAP_PERMITTED, static_cast<int>(kept.size()), kept.data(),
                           CAP_SET),
              "cap_set_flag(CAP_PERMITTED)");
        check(cap_set_flag(caps.get(), CAP_EFFECTIVE, static_cast<int>(kept.size()), kept.data(),
                           CAP_SET),
              "cap_set_flag(CAP_EFFECTIVE)");
    }
    check(cap_set_proc(caps.get()), "capset()");
    check(cap_reset_ambient(), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
    check(::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl(PR_SET_KEEPCAPS, 0)");
    check(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS, 1)");

    // Trust, then verify: no way back to uid 0, and exactly the capabilities asked for.
    if (::setuid(0) == 0 || ::geteuid() != user.uid || ::getegid() != user.gid ||
        ::getgroups(0, nullptr) != 0) {
        throw std::logic_error("dropPrivileges: the switch to user " + user.name + " did not hold");
    }
    auto now = makeCaps(cap_get_proc());
    if (!now || cap_compare(now.get(), caps.get()) != 0) {
        throw std::logic_error("dropPrivileges: the capability sets are not the ones asked for");
    }
}

}  // namespace tplab
