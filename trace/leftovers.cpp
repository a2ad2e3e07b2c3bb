// Leftovers of dead tplab traces. Names carry the pid (table tplab_trace_PID, instance
// tplab-PID, state file trace-PID), so "dead" is a kill(pid, 0) and a look at /proc/PID/comm.
#include "leftovers.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

#include "flow_filter.hpp"
#include "result.hpp"
#include "shell_command.hpp"
#include "tracefs.hpp"

namespace tplab {

namespace {

constexpr const char* kStateDir = "/run/tplab";

std::string statePath(long pid) {
    return std::string(kStateDir) + "/trace-" + std::to_string(pid);
}

bool validNetnsName(const std::string& name) {
    return !name.empty() && name.size() < 64 && name != "." && name != ".." &&
           name.find_first_not_of(
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
               std::string::npos;
}

std::vector<std::string> nftIn(const std::string& netns, std::vector<std::string> args) {
    std::vector<std::string> argv;
    if (!netns.empty())
        argv = {"ip", "netns", "exec", netns};
    argv.push_back("nft");
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

// Tables tplab_trace_PID of dead processes in `netns`, deleted.
void removeDeadTables(const std::string& netns, std::vector<std::string>& removed) {
    if (!netns.empty() && ::access(("/run/netns/" + netns).c_str(), F_OK) != 0)
        return;
    auto listed = runCommand({nftIn(netns, {"list", "tables", "inet"}), ""});
    if (listed.exitCode != 0)
        return;
    std::istringstream lines(listed.output);
    std::string table, family, name;
    while (lines >> table >> family >> name) {
        long pid = pidFromTraceName(name);
        if (table != "table" || pid <= 0 || tplabAlive(pid))
            continue;
        auto deleted = runCommand({nftIn(netns, {"delete", "table", "inet", name}), ""});
        if (deleted.exitCode == 0)
            removed.push_back("nft table inet " + name + (netns.empty() ? "" : " in " + netns));
    }
}

}  // namespace

int writeTraceState(const TraceState& state) {
    ::mkdir(kStateDir, 0755);
    std::ofstream file(statePath(state.pid), std::ios::trunc);
    if (!file)
        return errno ? errno : EIO;
    file << "netns=" << state.netns << "\ntracefs=" << state.tracefs
         << "\nmounted=" << (state.mountedTracefs ? 1 : 0) << "\n";
    return file.good() ? 0 : EIO;
}

void removeTraceState(long pid) {
    ::unlink(statePath(pid).c_str());
}

bool tplabAlive(long pid) {
    if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM))
        return false;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name.rfind("tplab", 0) == 0;
}

std::vector<std::string> removeLeftovers(const std::string& alsoNetns) {
    std::vector<std::string> removed;
    std::set<std::string> namespaces = {""};
    if (!alsoNetns.empty())
        namespaces.insert(alsoNetns);
    bool unmountWanted = false;
    std::vector<long> deadStates;
    if (DIR* dir = ::opendir(kStateDir)) {
        while (dirent* entry = ::readdir(dir)) {
            std::string name = entry->d_name;
            if (name.rfind("trace-", 0) != 0)
                continue;
            long pid = pidFromTraceName("tplab-" + name.substr(6));
            if (pid <= 0 || tplabAlive(pid))
                continue;
            std::ifstream file(statePath(pid));
            std::string line;
            while (std::getline(file, line)) {
                if (line.rfind("netns=", 0) == 0 && validNetnsName(line.substr(6)))
                    namespaces.insert(line.substr(6));
                if (line == "mounted=1")
                    unmountWanted = true;
            }
            deadStates.push_back(pid);
        }
        ::closedir(dir);
    }
    for (const auto& netns : namespaces)
        removeDeadTables(netns, removed);
    std::string mountPoint = tracefsMountPoint();
    bool mountedNow = false;
    if (mountPoint.empty() && unmountWanted) {
        // A dead trace mounted tracefs and someone unmounted it: its instance may live on
        // (instances survive an unmount). Mount to look, and unmount again below.
        try {
            mountPoint = mountTracefs();
            mountedNow = true;
        } catch (const std::system_error&) {
        }
    }
    if (!mountPoint.empty()) {
        for (const auto& name : tplabInstances(mountPoint)) {
            if (tplabAlive(pidFromTraceName(name)))
                continue;
            if (removeInstance(mountPoint, name) == 0)
                removed.push_back("tracefs instance " + mountPoint + "/instances/" + name);
        }
        bool liveTrace = !tplabInstances(mountPoint).empty();
        if ((unmountWanted || mountedNow) && !liveTrace && unmountTracefs(mountPoint) == 0 &&
            !mountedNow)
            removed.push_back("tracefs mount at " + mountPoint + " (a dead trace had mounted it)");
    }
    for (long pid : deadStates) {
        removeTraceState(pid);
        removed.push_back("state file " + statePath(pid));
    }
    return removed;
}

}  // namespace tplab
