// Least privilege for a proxy started as root: once its listeners are open, become an ordinary
// user and keep only the capabilities the chosen options use at run time.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tplab {

enum class Capability {
    NetAdmin,        // IP_TRANSPARENT on upstream/reply sockets, SO_MARK
    NetBindService,  // UDP reply sockets bound to the original destination, port < 1024
};

std::string toString(Capability capability);

struct TargetUser {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;  // the user's primary group
};

// Resolves a user name (or a numeric uid) with getpwnam_r. Unknown: std::invalid_argument.
TargetUser lookupUser(const std::string& name);

// setgroups({}) + setgid + setuid to `user`, keeping `keep` in the permitted and effective sets
// (PR_SET_KEEPCAPS across setuid), nothing inheritable or ambient, the bounding set cut down to
// `keep`, and PR_SET_NO_NEW_PRIVS. Needs root (CAP_SETUID, CAP_SETGID, CAP_SETPCAP).
// Call it from the main thread before any other thread exists: glibc applies setuid to every
// thread, but capabilities, the bounding set and no_new_privs are per thread, and a thread
// started earlier would keep its own; it throws std::logic_error if it finds another thread.
// Throws std::system_error naming the failed call; checks the result (uid 0 cannot come back).
void dropPrivileges(const TargetUser& user, const std::vector<Capability>& keep);

}  // namespace tplab
