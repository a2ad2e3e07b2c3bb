// setns() on the calling thread: a network namespace is a per-thread property.
#include "netns.hpp"

#include <fcntl.h>
#include <sched.h>

#include <cerrno>

#include "fd.hpp"
#include "result.hpp"

namespace tplab {

void enterNetns(const std::string& name) {
    if (name.empty()) {
        return;
    }
    const std::string path = "/run/netns/" + name;
    Fd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) {
        throw setupError(errno, "open(" + path + ") (no network namespace named '" + name + "'?)");
    }
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
        throw setupError(errno, "setns(" + path + ", CLONE_NEWNET)");
    }
}

}  // namespace tplab
