// The life of one proxied connection, from accept() to the `closed` event.
#include "session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "log.hpp"
#include "socket_ops.hpp"

namespace tplab {
namespace {

double msBetween(Clock::time_point start, Clock::time_point end) {
    return std::chrono::duration<double, std::milli>(end - start).count();
}

}  // namespace

Session::Session(SessionHost& host, std::uint64_t id, const Endpoint& client,
                 const Endpoint& listener)
    : host_(host),
      id_(id),
      client_(client.unmapped()),
      listener_(listener),
      relay_(host.loop(), host.relayResources(), *this),
      started_(host.loop().now()) {}

Session::~Session() = default;

void Session::start(Fd client) {
    const int fd = client.get();
    (void)sys::setIntOption(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (auto added = relay_.attachClient(std::move(client)); !added) {
        refuse(CloseReason::ProxyError, "epoll_ctl(EPOLL_CTL_ADD, client fd " + std::to_string(fd) +
                                            "): " + errnoText(added.error()));
        return;
    }
    auto local = sys::localAddress(fd);
    if (!local) {
        refuse(CloseReason::LookupFailed,
               "getsockname(fd " + std::to_string(fd) + "): " + errnoText(local.error()));
        return;
    }
    DestinationLookup lookup = host_.backend().recoverDestination(fd, client_, local.value());
    if (host_.events().enabled()) {
        host_.events().write(acceptedEvent(id_, host_.backend().name(), client_, listener_,
                                           local.value().unmapped(), lookup));
    }
    if (!lookup.destination) {
        refuse(lookup.notRedirected ? CloseReason::NotRedirected : CloseReason::LookupFailed,
               lookup.failure);
        return;
    }
    destination_ = lookup.destination->unmapped();
    // With --spoof-source an upstream takes the client's address and a port of the gateway's
    // choosing, which a real client connection may use too: then the pair says nothing. The
    // check is skipped when --mark exempts our upstreams from interception anyway
    // (docs/full-transparency.md, "Port collisions").
    const UpstreamOptions& upstream = host_.settings().upstream;
    bool pairIsAmbiguous = upstream.spoofSource && upstream.mark;
    if (!pairIsAmbiguous && host_.loopGuard().isOwnUpstream(client_, destination_)) {
        refuse(CloseReason::LoopRefused, "client " + client_.toString() +
                                             " is this proxy's own upstream connection, "
                                             "intercepted again (exempt it with --mark)");
        return;
    }
    if (host_.loopGuard().isOwnListener(destination_)) {
        refuse(CloseReason::LoopRefused, "original destination " + destination_.toString() +
                                             " is this proxy's own listener "
                                             "(the connection reached it without interception)");
        return;
    }
    connectUpstream();
}

void Session::connectUpstream() {
    connectStarted_ = host_.loop().now();
    openUpstream();
}

void Session::retryUpstream() {
    openUpstream();  // stays where it is on the connecting list: oldest first, for the sweep
}

void Session::openUpstream() {
    UpstreamFailure failure;
    auto socket =
        openUpstreamSocket(SOCK_STREAM, client_, destination_, host_.settings().upstream, failure);
    if (!socket && (failure.error == EMFILE || failure.error == ENFILE)) {
        // Waiting costs this client a little time; refusing would cost it the connection. The
        // connect timeout still applies: the session waits on the connecting list.
        awaitingFd_ = true;
        if (!connectingHook.linked()) {
            host_.connecting().pushBack(*this);
        }
        host_.shortOfFileDescriptors();
        return;
    }
    awaitingFd_ = false;
    if (!socket) {
        refuse(CloseReason::ConnectFailed, failure.call + ": " + errnoText(failure.error));
        return;
    }
    const int fd = socket.value().get();
    auto status = sys::connectTo(fd, destination_);
    // The source port is chosen by connect() itself. Record it now: if rules intercept this very
    // connection again, its SYN reaches a listener (maybe another worker's) before the connect
    // completes.
    if (auto local = sys::localAddress(fd); local && local.value().port() != 0) {
        upstreamLocal_ = local.value();
        host_.loopGuard().upstreamOpened(upstreamLocal_, destination_);
    }
    if (!status && status.error() != EINPROGRESS) {
        connectFailed(status.error());
        return;
    }
    if (auto added = relay_.attachUpstream(std::move(socket.value())); !added) {
        refuse(CloseReason::ProxyError, "epoll_ctl(EPOLL_CTL_ADD, upstream fd " +
                                            std::to_string(fd) + "): " + errnoText(added.error()));
        return;
    }
    if (!connectingHook.linked()) {
        host_.connecting().pushBack(*this);  // completion comes as an event, even when immediate
    }
}

void Session::onUpstreamConnect(int error) {
    connectingHook.unlink();
    if (error != 0) {
        connectFailed(error);
        return;
    }
    if (host_.events().enabled()) {
        host_.events().write(connectedEvent(id_, upstreamLocal_, destination_,
                                            msBetween(connectStarted_, Clock::now())));
    }
    relaying_ = true;
    relay_.start();
}

void Session::connectFailed(int error) {
    CloseReason reason = error == ECONNREFUSED ? CloseReason::ConnectRefused
                         : error == ETIMEDOUT  ? CloseReason::ConnectTimeout
                                               : CloseReason::ConnectFailed;
    refuse(reason, "connect(" + destination_.toString() + "): " + errnoText(error));
}

void Session::connectTimedOut() {
    auto seconds = std::chrono::duration<double>(host_.settings().connectTimeout).count();
    if (awaitingFd_) {
        refuse(CloseReason::ConnectFailed, "no file descriptor for the upstream socket within " +
                                               log::formatSeconds(seconds) + " s");
        return;
    }
    refuse(CloseReason::ConnectTimeout, "connect(" + destination_.toString() +
                                            "): no answer within " + log::formatSeconds(seconds) +
                                            " s");
}

void Session::onRelayDone(RelayEnd end, int error) {
    switch (end) {
        case RelayEnd::Finished:
            finish(CloseReason::Normal, "");
            break;
        case RelayEnd::ClientReset:
            finish(CloseReason::ClientReset, "client: " + errnoText(error));
            break;
        case RelayEnd::UpstreamReset:
            finish(CloseReason::UpstreamReset, "upstream: " + errnoText(error));
            break;
        case RelayEnd::OutOfMemory:
            finish(CloseReason::ProxyError, "no memory to park bytes in flight");
            break;
    }
}

void Session::abort(CloseReason reason) {
    if (finished_) {
        return;
    }
    relay_.abort();
    finish(reason, "");
}

// The client gets a RST: what it would have seen had there been nothing to connect to.
void Session::refuse(CloseReason reason, const std::string& detail) {
    relay_.abort();
    finish(reason, detail);
}

void Session::finish(CloseReason reason, const std::string& detail) {
    if (finished_) {
        return;
    }
    finished_ = true;
    connectingHook.unlink();
    if (upstreamLocal_.family() != AF_UNSPEC) {
        host_.loopGuard().upstreamClosed(upstreamLocal_, destination_);
    }
    std::uint64_t toUpstream = relay_.bytesClientToUpstream();
    std::uint64_t toClient = relay_.bytesUpstreamToClient();
    if (log::enabled(log::Level::Debug)) {
        log::debug("connection " + std::to_string(id_) + " from " + client_.toString() +
                   " closed: " + std::string(toString(reason)) +
                   (detail.empty() ? "" : " (" + detail + ")"));
    }
    if (host_.events().enabled()) {
        host_.events().write(closedEvent(id_, reason, toUpstream, toClient,
                                         msBetween(started_, Clock::now()), detail));
    }
    host_.sessionClosed(*this, reason, toUpstream, toClient);
}

}  // namespace tplab
