// tracefs helpers. An instance survives an unmount of tracefs (checked on 6.18): remove the
// instance first, unmount after.
#include "tracefs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "fd.hpp"
#include "flow_filter.hpp"
#include "result.hpp"

namespace tplab {

namespace {
constexpr const char* kDefaultMount = "/sys/kernel/tracing";
}

std::string tracefsMountPoint() {
    std::ifstream mounts("/proc/self/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string device, point, type;
        if (fields >> device >> point >> type && type == "tracefs")
            return point;
    }
    return "";
}

std::string mountTracefs() {
    if (::mount("nodev", kDefaultMount, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        throw setupError(errno, std::string("mount(tracefs, ") + kDefaultMount + ")");
    return kDefaultMount;
}

int unmountTracefs(const std::string& mountPoint) {
    return ::umount(mountPoint.c_str()) == 0 ? 0 : errno;
}

std::string traceInstanceName(long pid) {
    return "tplab-" + std::to_string(pid);
}

std::vector<std::string> tplabInstances(const std::string& mountPoint) {
    std::vector<std::string> names;
    DIR* dir = ::opendir((mountPoint + "/instances").c_str());
    if (dir == nullptr)
        return names;
    while (dirent* entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        if (name.rfind("tplab-", 0) == 0 && pidFromTraceName(name) > 0)
            names.push_back(name);
    }
    ::closedir(dir);
    return names;
}

int writeTracefs(const std::string& path, const std::string& value) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!fd)
        return errno;
    ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0)
        return errno;
    return n == static_cast<ssize_t>(value.size()) ? 0 : EIO;
}

int removeInstance(const std::string& mountPoint, const std::string& name) {
    std::string dir = mountPoint + "/instances/" + name;
    writeTracefs(dir + "/events/skb/kfree_skb/enable", "0");
    writeTracefs(dir + "/tracing_on", "0");
    return ::rmdir(dir.c_str()) == 0 ? 0 : errno;
}

}  // namespace tplab
