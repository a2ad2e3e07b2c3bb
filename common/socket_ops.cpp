// Real implementations of the thin syscall layer.
#include "socket_ops.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace tplab::sys {
namespace {

constexpr int kOriginalDstOption = 80;  // SO_ORIGINAL_DST == IP6T_SO_ORIGINAL_DST == 80

Status statusOf(int rc) {
    return rc == 0 ? Status() : Status::fromErrno();
}

}  // namespace

Result<Fd> openSocket(int family, int type) {
    int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return Result<Fd>::failure(errno);
    }
    return Fd(fd);
}

Status setIntOption(int fd, int level, int name, int value) {
    return statusOf(::setsockopt(fd, level, name, &value, sizeof(value)));
}

Status bindTo(int fd, const Endpoint& address) {
    return statusOf(::bind(fd, address.sockaddrPtr(), address.length()));
}

Status listenOn(int fd, int backlog) {
    return statusOf(::listen(fd, backlog));
}

Result<Accepted> acceptFrom(int listenerFd) {
    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
    int fd = ::accept4(listenerFd, reinterpret_cast<sockaddr*>(&peer), &length,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        return Result<Accepted>::failure(errno);
    }
    return Accepted{Fd(fd), Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&peer), length)};
}

Status connectTo(int fd, const Endpoint& address) {
    return statusOf(::connect(fd, address.sockaddrPtr(), address.length()));
}

Result<Endpoint> localAddress(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return Result<Endpoint>::failure(errno);
    }
    return Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&address), length);
}

Result<Endpoint> peerAddress(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return Result<Endpoint>::failure(errno);
    }
    return Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&address), length);
}

Result<Endpoint> originalDestination(int fd, int level) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getsockopt(fd, level, kOriginalDstOption, &address, &length) != 0) {
        return Result<Endpoint>::failure(errno);
    }
    return Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&address), length);
}

int pendingError(int fd) {
    int error = 0;
    socklen_t length = sizeof(error);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        return errno;
    }
    return error;
}

Result<std::size_t> readSome(int fd, char* data, std::size_t size) {
    ssize_t n = ::recv(fd, data, size, 0);
    if (n < 0) {
        return Result<std::size_t>::failure(errno);
    }
    return static_cast<std::size_t>(n);
}

Result<std::size_t> writeSome(int fd, const char* data, std::size_t size) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
        return Result<std::size_t>::failure(errno);
    }
    return static_cast<std::size_t>(n);
}

Status shutdownWrite(int fd) {
    return statusOf(::shutdown(fd, SHUT_WR));
}

bool isLocalAddress(const Endpoint& address) {
    if (address.isLoopback()) {
        return true;
    }
    auto probe = openSocket(address.family(), SOCK_DGRAM);
    return probe && bindTo(probe.value().get(), address.withPort(0)).ok();
}

void resetAndClose(Fd& fd) {
    if (!fd) {
        return;
    }
    linger option{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &option, sizeof(option));
    fd.reset();
}

}  // namespace tplab::sys
