// Upstream socket preparation.
#include "upstream_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "socket_ops.hpp"
#include "spoof_source.hpp"

namespace tplab {
namespace {

Status setMark(int fd, std::uint32_t mark) {
    return sys::setIntOption(fd, SOL_SOCKET, SO_MARK, static_cast<int>(mark));
}

}  // namespace

Result<Fd> openUpstreamSocket(int type, const Endpoint& client, const Endpoint& destination,
                              const UpstreamOptions& options, UpstreamFailure& failure) {
    auto socket = sys::openSocket(destination.family(), type);
    if (!socket) {
        failure = {socket.error(), "socket()"};
        return Result<Fd>::failure(socket.error());
    }
    int fd = socket.value().get();
    if (options.mark) {
        if (auto status = setMark(fd, *options.mark); !status) {
            failure = {status.error(),
                       "setsockopt(SO_MARK, " + std::to_string(*options.mark) + ")"};
            return Result<Fd>::failure(status.error());
        }
    }
    if (options.spoofSource) {
        if (auto bound = bindToClientAddress(fd, client, destination); !bound) {
            failure = {bound.error(), "bind(" + client.addressString() + ") for --spoof-source"};
            return Result<Fd>::failure(bound.error());
        }
    }
    if (type == SOCK_STREAM) {
        (void)sys::setIntOption(fd, IPPROTO_TCP, TCP_NODELAY, 1);  // best effort
    }
    return socket;
}

void probeUpstreamOptions(const UpstreamOptions& options) {
    if (!options.mark && !options.spoofSource) {
        return;
    }
    auto probe = sys::openSocket(AF_INET, SOCK_STREAM);
    if (!probe) {
        throw setupError(probe.error(), "socket(AF_INET, SOCK_STREAM)");
    }
    if (options.mark) {
        if (auto status = setMark(probe.value().get(), *options.mark); !status) {
            throw setupError(status.error(), "setsockopt(SO_MARK, " +
                                                 std::to_string(*options.mark) +
                                                 ") (--mark needs CAP_NET_ADMIN)");
        }
    }
    if (options.spoofSource) {
        auto status = sys::setIntOption(probe.value().get(), SOL_IP, IP_TRANSPARENT, 1);
        if (!status) {
            throw setupError(status.error(),
                             "setsockopt(IP_TRANSPARENT, 1) (--spoof-source needs CAP_NET_ADMIN)");
        }
    }
}

}  // namespace tplab
