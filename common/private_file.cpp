// The checks of openPrivateAppendFile: every decision is taken on the opened fd (fstat), or on
// the directory fd the file is opened relative to, so nothing can be swapped in between.
#include "private_file.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

#include "result.hpp"

namespace tplab {
namespace {

std::string octalMode(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

std::string kindOf(mode_t mode) {
    if (S_ISLNK(mode))
        return "a symbolic link";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "not a regular file";
}

// errno values that mean "this path is wrong", as opposed to the system failing us.
bool isPathError(int err) {
    switch (err) {
        case ENOENT:
        case ENOTDIR:
        case EACCES:
        case EPERM:
        case EISDIR:
        case ELOOP:
        case ENXIO:
        case EROFS:
        case ENAMETOOLONG:
        case ETXTBSY:
            return true;
        default:
            return false;
    }
}

[[noreturn]] void throwOpenFailure(int err, const std::string& prefix, const std::string& call) {
    if (isPathError(err)) {
        throw UnsafePathError(prefix + call + ": " + errnoText(err));
    }
    throw setupError(err, prefix + call);
}

}  // namespace

Fd openPrivateAppendFile(const std::string& path, std::string_view label) {
    const std::string prefix = std::string(label) + " " + path + ": ";
    auto refuse = [&](const std::string& why) { return UnsafePathError(prefix + why); };
    if (path.empty()) {
        throw UnsafePathError(std::string(label) + ": empty path");
    }
    auto slash = path.rfind('/');
    std::string directory = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (name.empty() || name == "." || name == "..") {
        throw refuse("names a directory, not a file");
    }

    Fd dir(::open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        throwOpenFailure(errno, prefix, "open(" + directory + ")");
    }
    const uid_t self = ::geteuid();
    struct stat dirStat {};
    if (::fstat(dir.get(), &dirStat) != 0) {
        throw setupError(errno, prefix + "fstat(" + directory + ")");
    }
    if (dirStat.st_uid != self && dirStat.st_uid != 0) {
        throw refuse("its directory belongs to uid " + std::to_string(dirStat.st_uid) +
                     ", who could replace the file; use a directory of root or of uid " +
                     std::to_string(self));
    }
    if ((dirStat.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (dirStat.st_mode & S_ISVTX) == 0) {
        throw refuse("its directory is writable by others (mode " + octalMode(dirStat.st_mode) +
                     ") without the sticky bit, so anyone could replace the file");
    }

    // Look first, so that a FIFO or a device is refused without being opened at all.
    struct stat seen {};
    if (::fstatat(dir.get(), name.c_str(), &seen, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(seen.st_mode)) {
            throw refuse("is a symbolic link; refusing to follow it (give the real path)");
        }
        if (!S_ISREG(seen.st_mode)) {
            throw refuse("is " + kindOf(seen.st_mode) +
                         ", not a regular file (- writes to stdout)");
        }
    } else if (errno != ENOENT) {
        throwOpenFailure(errno, prefix, "fstatat");
    }

    Fd file(::openat(dir.get(), name.c_str(),
                     O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
                     0600));
    if (!file) {
        if (errno == ELOOP) {
            throw refuse("is a symbolic link; refusing to follow it (give the real path)");
        }
        throwOpenFailure(errno, prefix, "open(O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW)");
    }
    struct stat opened {};
    if (::fstat(file.get(), &opened) != 0) {
        throw setupError(errno, prefix + "fstat");
    }
    if (!S_ISREG(opened.st_mode)) {
        throw refuse("is " + kindOf(opened.st_mode) + ", not a regular file (- writes to stdout)");
    }
    if (opened.st_uid != self) {
        throw refuse("belongs to uid " + std::to_string(opened.st_uid) + ", not to uid " +
                     std::to_string(self) + " that writes it");
    }
    if ((opened.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        throw refuse("is writable by group or others (mode " + octalMode(opened.st_mode) +
                     "); chmod go-w it first");
    }
    struct statfs filesystem {};
    if (::fstatfs(file.get(), &filesystem) == 0 &&
        (filesystem.f_type == PROC_SUPER_MAGIC || filesystem.f_type == SYSFS_MAGIC)) {
        throw refuse("is a kernel file (/proc or /sys), not a file for events");
    }
    if (opened.st_nlink != 1) {
        throw refuse("has " + std::to_string(opened.st_nlink) +
                     " hard links; another name of it may be a file you did not mean");
    }
    int flags = ::fcntl(file.get(), F_GETFL);
    if (flags < 0 || ::fcntl(file.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
        throw setupError(errno, prefix + "fcntl(F_SETFL)");
    }
    return file;
}

std::string readPrivateFile(const std::string& path, std::string_view label, std::size_t maxBytes) {
    const std::string prefix = std::string(label) + " " + path + ": ";
    auto refuse = [&](const std::string& why) { return UnsafePathError(prefix + why); };
    Fd file(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!file) {
        if (errno == ELOOP) {
            throw refuse("is a symbolic link; refusing to follow it (give the real path)");
        }
        throwOpenFailure(errno, prefix, "open(O_RDONLY|O_NOFOLLOW)");
    }
    struct stat opened {};
    if (::fstat(file.get(), &opened) != 0) {
        throw setupError(errno, prefix + "fstat");
    }
    if (!S_ISREG(opened.st_mode)) {
        throw refuse("is " + kindOf(opened.st_mode) + ", not a regular file");
    }
    const uid_t self = ::geteuid();
    if (opened.st_uid != self && opened.st_uid != 0) {
        throw refuse("belongs to uid " + std::to_string(opened.st_uid) + ", not to root or uid " +
                     std::to_string(self) + "; chown it");
    }
    if ((opened.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        throw refuse("is open to group or others (mode " + octalMode(opened.st_mode) +
                     "); chmod 600 it");
    }
    if (static_cast<std::uintmax_t>(opened.st_size) > maxBytes) {
        throw refuse("is " + std::to_string(opened.st_size) + " bytes, more than " +
                     std::to_string(maxBytes));
    }
    std::string text;
    char buffer[4096];
    for (;;) {
        ssize_t got = ::read(file.get(), buffer, sizeof(buffer));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            throw setupError(errno, prefix + "read");
        }
        if (got == 0) {
            return text;
        }
        text.append(buffer, static_cast<std::size_t>(got));
        if (text.size() > maxBytes) {  // it grew since fstat
            throw refuse("is more than " + std::to_string(maxBytes) + " bytes");
        }
    }
}

}  // namespace tplab
