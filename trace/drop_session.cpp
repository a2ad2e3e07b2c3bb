// The drop half of tplab trace: instances/tplab-PID with only skb:kfree_skb on, filtered by
// protocol (its only field that narrows anything: it has no addresses, ports or namespace).
#include "drop_session.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "result.hpp"
#include "tracefs.hpp"

namespace tplab {

DropSession::DropSession(long pid, int family) : name_(traceInstanceName(pid)) {
    mountPoint_ = tracefsMountPoint();
    if (mountPoint_.empty()) {
        try {
            mountPoint_ = mountTracefs();
            mounted_ = true;
        } catch (const std::system_error& e) {
            why_ = std::string("drop reasons not available: ") + e.what();
            return;
        }
    }
    if (::access((mountPoint_ + "/events/skb/kfree_skb").c_str(), F_OK) != 0) {
        why_ = "drop reasons not available: this kernel has no skb:kfree_skb tracepoint";
        return;
    }
    instance_ = mountPoint_ + "/instances/" + name_;
    if (::mkdir(instance_.c_str(), 0700) != 0) {
        why_ = "drop reasons not available: mkdir(" + instance_ + "): " + errnoText(errno);
        instance_.clear();
        return;
    }
    std::string event = instance_ + "/events/skb/kfree_skb/";
    std::string filter = family == 4   ? "protocol == 2048"
                         : family == 6 ? "protocol == 34525"
                                       : "protocol == 2048 || protocol == 34525";
    int err = writeTracefs(instance_ + "/trace_clock", "mono");
    if (err == 0)
        err = writeTracefs(event + "filter", filter);
    if (err == 0)
        err = writeTracefs(event + "enable", "1");
    if (err != 0) {
        why_ = "drop reasons not available: setting up " + instance_ + ": " + errnoText(err);
        return;
    }
    pipe_.reset(::open((instance_ + "/trace_pipe").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!pipe_)
        why_ =
            "drop reasons not available: open(" + instance_ + "/trace_pipe): " + errnoText(errno);
}

DropSession::~DropSession() {
    close();
}

void DropSession::readAvailable() {
    if (!pipe_)
        return;
    char buffer[16384];
    for (;;) {
        ssize_t n = ::read(pipe_.get(), buffer, sizeof(buffer));
        if (n <= 0)
            break;
        partial_.append(buffer, static_cast<std::size_t>(n));
        std::size_t newline;
        while ((newline = partial_.find('\n')) != std::string::npos) {
            if (auto drop = parseDropLine(partial_.substr(0, newline)))
                drops_.push_back(*drop);
            partial_.erase(0, newline + 1);
        }
    }
}

std::string DropSession::close() {
    if (closed_)
        return "";
    closed_ = true;
    std::string problems;
    pipe_.reset();  // an instance with an open trace_pipe cannot be removed (EBUSY)
    if (!instance_.empty()) {
        if (int err = removeInstance(mountPoint_, name_))
            problems += "rmdir(" + instance_ + "): " + errnoText(err) + "\n";
    }
    if (mounted_ && tplabInstances(mountPoint_).empty()) {
        if (int err = unmountTracefs(mountPoint_))
            problems += "umount(" + mountPoint_ + "): " + errnoText(err) + "\n";
    }
    return problems;
}

}  // namespace tplab
