// What a tplab trace leaves switched on while it runs, written down (/run/tplab/trace-PID) so
// that what a SIGKILL left behind can be found and removed by the next run or --cleanup.
#pragma once

#include <string>
#include <vector>

namespace tplab {

struct TraceState {
    long pid = 0;
    std::string netns;    // the namespace holding the table ("" = tplab's own)
    std::string tracefs;  // tracefs mount point, "" if drop reasons were not traced
    bool mountedTracefs = false;
};

// Writes /run/tplab/trace-<pid>; returns 0 or an errno (tracing goes on without it).
int writeTraceState(const TraceState& state);
void removeTraceState(long pid);

// Whether process `pid` still exists and is a tplab.
bool tplabAlive(long pid);

// Removes everything dead tplab trace processes left: their tables (in the namespaces their
// state names, and in `alsoNetns` and the current one), tracefs instances, state files, and the
// tracefs mount if one of them made it and no live trace uses it. Returns one line per thing
// removed (empty: nothing was left).
std::vector<std::string> removeLeftovers(const std::string& alsoNetns);

}  // namespace tplab
