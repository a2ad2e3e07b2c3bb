// The relay state machine. Sockets are registered edge-triggered once; readiness is remembered
// in the Side flags, so stopping to read (backpressure) needs no epoll_ctl and cannot spin.
#include "relay.hpp"

#include <cerrno>

#include "socket_ops.hpp"

namespace tplab {
namespace {

constexpr std::uint32_t kRelayEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

bool isTransient(int err) {
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

}  // namespace

Relay::Relay(EventLoop& loop, Fd client, Fd upstream, DoneCallback onDone)
    : loop_(loop), onDone_(std::move(onDone)) {
    client_.relay = this;
    client_.fd = std::move(client);
    client_.resetMeans = RelayEnd::ClientReset;
    upstream_.relay = this;
    upstream_.fd = std::move(upstream);
    upstream_.resetMeans = RelayEnd::UpstreamReset;
    loop_.add(client_.fd.get(), kRelayEvents, &client_);
    loop_.add(upstream_.fd.get(), kRelayEvents, &upstream_);
}

Relay::~Relay() {
    unregister();
}

void Relay::unregister() noexcept {
    if (client_.fd) {
        loop_.remove(client_.fd.get());
    }
    if (upstream_.fd) {
        loop_.remove(upstream_.fd.get());
    }
}

void Relay::abort() noexcept {
    if (finished_) {
        return;
    }
    finished_ = true;
    unregister();
    sys::resetAndClose(client_.fd);
    sys::resetAndClose(upstream_.fd);
}

void Relay::onSideEvents(Side& side, std::uint32_t events) {
    if (finished_) {
        return;
    }
    if (events & EPOLLERR) {
        int err = sys::pendingError(side.fd.get());
        if (err != 0) {
            finish(side.resetMeans, err);
            return;
        }
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
        side.readable = true;
    }
    if (events & (EPOLLOUT | EPOLLHUP)) {
        side.writable = true;
    }
    pump();
}

void Relay::pump() {
    bool progress = true;
    while (progress && !finished_) {
        progress = transfer(toUpstream_);
        if (!finished_) {
            progress = transfer(toClient_) || progress;
        }
    }
    if (!finished_ && toUpstream_.done() && toClient_.done()) {
        finish(RelayEnd::Finished, 0);
    }
}

bool Relay::transfer(Direction& d) {
    bool progress = false;
    if (d.from.readable && !d.from.readEof && d.buffer.writableSize() > 0) {
        std::size_t room = d.buffer.writableSize();
        auto got = sys::readSome(d.from.fd.get(), d.buffer.writableData(), room);
        if (got.ok() && got.value() == 0) {
            d.from.readEof = true;
        } else if (got.ok()) {
            d.buffer.commitWrite(got.value());
            progress = true;
        } else if (got.error() == EINTR) {
            progress = true;
        } else if (isTransient(got.error())) {
            d.from.readable = false;
        } else {
            finish(d.from.resetMeans, got.error());
            return false;
        }
    }
    if (!d.buffer.empty() && d.to.writable) {
        auto sent = sys::writeSome(d.to.fd.get(), d.buffer.readableData(), d.buffer.size());
        if (sent.ok()) {
            d.buffer.consume(sent.value());
            d.bytes += sent.value();
            progress = true;
        } else if (isTransient(sent.error())) {
            d.to.writable = sent.error() == EINTR;
        } else {
            finish(d.to.resetMeans, sent.error());
            return false;
        }
    }
    if (d.from.readEof && d.buffer.empty() && !d.to.writeShut) {
        auto shut = sys::shutdownWrite(d.to.fd.get());
        if (!shut.ok()) {
            finish(d.to.resetMeans, shut.error());
            return false;
        }
        d.to.writeShut = true;
        progress = true;
    }
    if (progress) {
        lastActivity_ = Clock::now();
    }
    return progress;
}

void Relay::finish(RelayEnd end, int error) {
    finished_ = true;
    unregister();
    switch (end) {
        case RelayEnd::Finished:
            client_.fd.reset();
            upstream_.fd.reset();
            break;
        case RelayEnd::ClientReset:
            client_.fd.reset();
            sys::resetAndClose(upstream_.fd);
            break;
        case RelayEnd::UpstreamReset:
            upstream_.fd.reset();
            sys::resetAndClose(client_.fd);
            break;
    }
    if (onDone_) {
        onDone_(end, error);
    }
}

}  // namespace tplab
