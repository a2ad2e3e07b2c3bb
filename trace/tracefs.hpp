// Where tracefs is mounted, mounting it when it is not, and tplab's instances in it.
#pragma once

#include <string>
#include <vector>

namespace tplab {

// The mount point of tracefs from /proc/self/mounts, or empty if it is not mounted.
std::string tracefsMountPoint();

// Mounts tracefs at /sys/kernel/tracing; returns the mount point. Throws std::system_error.
std::string mountTracefs();

// umount(2); returns 0 or an errno.
int unmountTracefs(const std::string& mountPoint);

// The instance directory of tplab process `pid`: instances/tplab-<pid>.
std::string traceInstanceName(long pid);

// The names of the instances under mountPoint/instances that tplab made (tplab-<pid>).
std::vector<std::string> tplabInstances(const std::string& mountPoint);

// Removes an instance (after switching its events off); returns 0 or an errno.
int removeInstance(const std::string& mountPoint, const std::string& name);

// Writes `value` to a tracefs file; returns 0 or an errno.
int writeTracefs(const std::string& path, const std::string& value);

}  // namespace tplab
