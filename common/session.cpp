// The life of one proxied connection, from accept() to the `closed` event.
#include "session.hpp"

#include <sys/socket.h>

#include "log.hpp"
#include "spoof_source.hpp"

namespace tplab {
namespace {

double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

Session::Session(SessionHost& host, std::uint64_t id, Accepted client, const Endpoint& listener)
    : host_(host),
      id_(id),
      client_(std::move(client.fd)),
      clientAddress_(client.peer.unmapped()),
      listener_(listener) {}

Session::~Session() {
    if (timer_) {
        host_.loop().cancel(*timer_);
    }
    if (upstream_) {
        host_.loop().remove(upstream_.get());
    }
}

void Session::start() {
    auto local = sys::localAddress(client_.get());
    if (!local) {
        refuse(CloseReason::LookupFailed, "getsockname(fd " + std::to_string(client_.get()) +
                                              "): " + errnoText(local.error()));
        return;
    }
    DestinationLookup lookup =
        host_.backend().recoverDestination(client_.get(), clientAddress_, local.value());
    if (host_.events().enabled()) {
        host_.events().write(acceptedEvent(id_, host_.backend().name(), clientAddress_, listener_,
                                           local.value().unmapped(), lookup));
    }
    if (!lookup.destination) {
        refuse(lookup.notRedirected ? CloseReason::NotRedirected : CloseReason::LookupFailed,
               lookup.failure);
        return;
    }
    destination_ = lookup.destination->unmapped();
    if (host_.isOwnUpstream(clientAddress_, destination_)) {
        refuse(CloseReason::LoopRefused, "client " + clientAddress_.toString() +
                                             " is this proxy's own upstream connection, "
                                             "intercepted again (exempt it with --mark)");
        return;
    }
    if (host_.isOwnListener(destination_)) {
        refuse(CloseReason::LoopRefused, "original destination " + destination_.toString() +
                                             " is this proxy's own listener "
                                             "(the connection reached it without interception)");
        return;
    }
    connectUpstream(destination_);
}

void Session::connectUpstream(const Endpoint& destination) {
    connectStarted_ = Clock::now();
    auto socket = sys::openSocket(destination.family(), SOCK_STREAM);
    if (!socket) {
        onConnectFailed(socket.error());
        return;
    }
    upstream_ = std::move(socket.value());
    if (const auto& mark = host_.settings().mark) {
        auto status =
            sys::setIntOption(upstream_.get(), SOL_SOCKET, SO_MARK, static_cast<int>(*mark));
        if (!status) {
            onConnectFailed(status.error());
            return;
        }
    }
    if (host_.settings().spoofSource) {
        if (auto bound = bindToClientAddress(upstream_.get(), clientAddress_, destination);
            !bound) {
            upstream_.reset();
            refuse(CloseReason::ConnectFailed,
                   "bind(" + clientAddress_.addressString() +
                       ") for --spoof-source: " + errnoText(bound.error()));
            return;
        }
    }
    auto status = sys::connectTo(upstream_.get(), destination);
    // The source port is chosen by connect() itself. Record it now: if rules intercept this very
    // connection again, its SYN reaches our listener before the connect completes.
    if (auto local = sys::localAddress(upstream_.get()); local && local.value().port() != 0) {
        upstreamLocal_ = local.value();
        host_.upstreamOpened(upstreamLocal_, destination);
    }
    if (status.ok()) {
        onConnected();
        return;
    }
    if (status.error() != EINPROGRESS) {
        onConnectFailed(status.error());
        return;
    }
    host_.loop().add(upstream_.get(), EPOLLOUT, this);
    timer_ = host_.loop().runAfter(host_.settings().connectTimeout, [this] {
        timer_.reset();
        onConnectTimeout();
    });
}

void Session::onEvents(std::uint32_t /*events*/) {
    if (finished_ || relay_) {
        return;
    }
    int err = sys::pendingError(upstream_.get());
    if (err == 0) {
        onConnected();
    } else {
        onConnectFailed(err);
    }
}

void Session::onConnected() {
    if (timer_) {
        host_.loop().cancel(*timer_);
        timer_.reset();
    }
    host_.loop().remove(upstream_.get());
    auto peer = sys::peerAddress(upstream_.get());
    if (!peer) {
        // Connected, then reset before we looked: the same as a refused connect for the client.
        onConnectFailed(peer.error() == ENOTCONN ? sys::pendingError(upstream_.get())
                                                 : peer.error());
        return;
    }
    if (host_.events().enabled()) {
        host_.events().write(
            connectedEvent(id_, upstreamLocal_, peer.value(), msSince(connectStarted_)));
    }
    relay_ = std::make_unique<Relay>(host_.loop(), std::move(client_), std::move(upstream_),
                                     [this](RelayEnd end, int err) { onRelayDone(end, err); });
    if (host_.settings().idleTimeout > Clock::duration::zero()) {
        scheduleIdleCheck(host_.settings().idleTimeout);
    }
}

void Session::onConnectFailed(int err) {
    if (upstream_) {
        host_.loop().remove(upstream_.get());
        upstream_.reset();
    }
    CloseReason reason = err == ECONNREFUSED ? CloseReason::ConnectRefused
                         : err == ETIMEDOUT  ? CloseReason::ConnectTimeout
                                             : CloseReason::ConnectFailed;
    refuse(reason, "connect(" + destination_.toString() + "): " + errnoText(err));
}

void Session::onConnectTimeout() {
    auto seconds = std::chrono::duration<double>(host_.settings().connectTimeout).count();
    if (upstream_) {
        host_.loop().remove(upstream_.get());
        upstream_.reset();
    }
    refuse(CloseReason::ConnectTimeout, "connect(" + destination_.toString() +
                                            "): no answer within " + log::formatSeconds(seconds) +
                                            " s");
}

void Session::onRelayDone(RelayEnd end, int err) {
    switch (end) {
        case RelayEnd::Finished:
            finish(CloseReason::Normal, "");
            break;
        case RelayEnd::ClientReset:
            finish(CloseReason::ClientReset, "client: " + errnoText(err));
            break;
        case RelayEnd::UpstreamReset:
            finish(CloseReason::UpstreamReset, "upstream: " + errnoText(err));
            break;
    }
}

void Session::scheduleIdleCheck(Clock::duration delay) {
    timer_ = host_.loop().runAfter(delay, [this] {
        timer_.reset();
        onIdleCheck();
    });
}

void Session::onIdleCheck() {
    if (finished_ || !relay_) {
        return;
    }
    auto idleFor = Clock::now() - relay_->lastActivity();
    auto limit = host_.settings().idleTimeout;
    if (idleFor < limit) {
        scheduleIdleCheck(limit - idleFor);
        return;
    }
    abort(CloseReason::IdleTimeout);
}

void Session::abort(CloseReason reason) {
    if (finished_) {
        return;
    }
    if (relay_) {
        relay_->abort();
    }
    if (upstream_) {
        host_.loop().remove(upstream_.get());
        sys::resetAndClose(upstream_);
    }
    sys::resetAndClose(client_);
    finish(reason, "");
}

// The client gets a RST: what it would have seen had there been nothing to connect to.
void Session::refuse(CloseReason reason, const std::string& detail) {
    sys::resetAndClose(client_);
    finish(reason, detail);
}

void Session::finish(CloseReason reason, const std::string& detail) {
    if (finished_) {
        return;
    }
    finished_ = true;
    if (timer_) {
        host_.loop().cancel(*timer_);
        timer_.reset();
    }
    if (upstreamLocal_.family() != AF_UNSPEC) {
        host_.upstreamClosed(upstreamLocal_, destination_);
    }
    std::uint64_t toUpstream = relay_ ? relay_->bytesClientToUpstream() : 0;
    std::uint64_t toClient = relay_ ? relay_->bytesUpstreamToClient() : 0;
    if (log::enabled(log::Level::Debug)) {
        log::debug("connection " + std::to_string(id_) + " from " + clientAddress_.toString() +
                   " closed: " + std::string(toString(reason)) +
                   (detail.empty() ? "" : " (" + detail + ")"));
    }
    if (host_.events().enabled()) {
        host_.events().write(
            closedEvent(id_, reason, toUpstream, toClient, msSince(started_), detail));
    }
    host_.sessionClosed(*this, reason, toUpstream, toClient);
}

}  // namespace tplab
