// Opening a file that a privileged proxy appends to (--events) without letting another local
// user choose which file that is (a symlink or hard link planted in a shared directory).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "fd.hpp"

namespace tplab {

// The path itself is unacceptable: the caller's input is wrong (tplab exits 2).
struct UnsafePathError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// Opens `path` write-only for appending (O_NOFOLLOW, O_CLOEXEC), creating it with mode 0600.
// Refuses with UnsafePathError, naming `label` (e.g. "--events") and the reason: a symbolic
// link; anything but a regular file; a file with more than one hard link, owned by another user
// than the effective uid, or writable by group or others; and a directory in which someone else
// could swap the file (owned by another user than root or us, or group/other-writable without
// the sticky bit). A path that cannot be opened (missing directory, no permission) is an
// UnsafePathError too; other failures throw std::system_error.
Fd openPrivateAppendFile(const std::string& path, std::string_view label);

// Reads a secret (--socks-password-file) of at most `maxBytes`. Opened with O_NOFOLLOW and
// O_NONBLOCK and checked on the fd before a byte is read, so a FIFO or a device never blocks
// and /dev/zero is never read: refuses with UnsafePathError a symbolic link, anything but a
// regular file, a file readable or writable by group or others, owned by another user than
// root or the effective uid, or larger than `maxBytes`.
std::string readPrivateFile(const std::string& path, std::string_view label, std::size_t maxBytes);

}  // namespace tplab
