// The thin syscall layer: each call returns a value or an errno and never throws.
// Backends take a SocketApi& so their failure paths can be unit-tested without root.
#pragma once

#include <sys/types.h>
#include <cstddef>

#include "endpoint.hpp"
#include "fd.hpp"
#include "result.hpp"

namespace tplab {

struct Accepted {
    Fd fd;
    Endpoint peer;
};

namespace sys {

// socket() with SOCK_NONBLOCK | SOCK_CLOEXEC always added.
Result<Fd> openSocket(int family, int type);
Status setIntOption(int fd, int level, int name, int value);
Status bindTo(int fd, const Endpoint& address);
Status listenOn(int fd, int backlog);
Result<Accepted> acceptFrom(int listenerFd);
// Non-blocking connect: EINPROGRESS comes back as a failure the caller expects.
Status connectTo(int fd, const Endpoint& address);
Result<Endpoint> localAddress(int fd);
Result<Endpoint> peerAddress(int fd);
// getsockopt(level, SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST): both are option 80.
Result<Endpoint> originalDestination(int fd, int level);
// The socket's pending error (SO_ERROR), cleared by reading it.
int pendingError(int fd);
Result<std::size_t> readSome(int fd, char* data, std::size_t size);
Result<std::size_t> writeSome(int fd, const char* data, std::size_t size);
Status shutdownWrite(int fd);
// Closes with SO_LINGER {1, 0}, so the peer receives a RST instead of a FIN.
void resetAndClose(Fd& fd);
// Can this host bind the address without IP_TRANSPARENT, i.e. is it one of its own?
bool isLocalAddress(const Endpoint& address);

}  // namespace sys

// The calls a backend makes, as virtual methods; the default forwards to sys::.
class SocketApi {
  public:
    virtual ~SocketApi() = default;
    virtual Result<Fd> openSocket(int family, int type) { return sys::openSocket(family, type); }
    virtual Status setIntOption(int fd, int level, int name, int value) {
        return sys::setIntOption(fd, level, name, value);
    }
    virtual Status bindTo(int fd, const Endpoint& address) { return sys::bindTo(fd, address); }
    virtual Status listenOn(int fd, int backlog) { return sys::listenOn(fd, backlog); }
    virtual Result<Endpoint> localAddress(int fd) { return sys::localAddress(fd); }
    virtual Result<Endpoint> originalDestination(int fd, int level) {
        return sys::originalDestination(fd, level);
    }
};

}  // namespace tplab
