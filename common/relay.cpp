// The relay state machine. Sockets are registered edge-triggered once; readiness is remembered
// in the Side flags, so stopping to read (backpressure, budget) needs no epoll_ctl and cannot
// spin. A direction reads only when nothing of it is parked, so each holds at most one chunk
// or one pipe: the bound on what the proxy buffers.
#include "relay.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "socket_ops.hpp"

namespace tplab {
namespace {

constexpr std::uint32_t kRelayEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

bool isTransient(int err) {
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

}  // namespace

Relay::Relay(EventLoop& loop, RelayResources& resources, RelayObserver& observer)
    : loop_(loop), resources_(resources), observer_(observer), lastActivity_(loop.now()) {
    client_.relay = this;
    client_.isClient = true;
    upstream_.relay = this;
}

Relay::~Relay() {
    dropPending(toUpstream_);
    dropPending(toClient_);
}

Status Relay::attachClient(Fd client) noexcept {
    client_.fd = std::move(client);
    return loop_.add(client_.fd.get(), kRelayEvents, &client_);
}

Status Relay::attachUpstream(Fd upstream) noexcept {
    upstream_.fd = std::move(upstream);
    return loop_.add(upstream_.fd.get(), kRelayEvents, &upstream_);
}

void Relay::start() {
    relaying_ = true;
    connectReported_ = true;
    upstream_.writable = true;
    lastActivity_ = loop_.now();
    pump();
}

void Relay::abort() noexcept {
    if (finished_) {
        return;
    }
    finished_ = true;
    resumeHook.unlink();
    dropPending(toUpstream_);
    dropPending(toClient_);
    sys::resetAndClose(client_.fd);
    sys::resetAndClose(upstream_.fd);
}

void Relay::onSideEvents(Side& side, std::uint32_t events) {
    if (finished_) {
        return;
    }
    // EPOLLERR is not acted on here: the bytes the peer sent before its reset are still queued
    // and are read (and delivered) first; the read or write that fails then reports the error.
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        side.readable = true;
    }
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        side.writable = true;
    }
    if (!relaying_) {
        if (&side == &upstream_ && !connectReported_ &&
            (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            connectReported_ = true;
            int error = (events & EPOLLERR) ? sys::pendingError(side.fd.get()) : 0;
            observer_.onUpstreamConnect(error);  // calls start() or abort()
        }
        return;
    }
    pump();
}

void Relay::resume() {
    if (!finished_) {
        pump();
    }
}

void Relay::pump() {
    std::size_t budgetUp = kBudgetPerRound;
    std::size_t budgetDown = kBudgetPerRound;
    try {
        bool moved = true;
        while (moved && !finished_) {
            Step up = transfer(toUpstream_, budgetUp);
            if (finished_) {
                return;
            }
            Step down = transfer(toClient_, budgetDown);
            moved = up == Step::Moved || down == Step::Moved;
            if (moved) {
                lastActivity_ = loop_.now();
            }
        }
    } catch (const std::bad_alloc&) {
        abort();
        observer_.onRelayDone(RelayEnd::OutOfMemory, ENOMEM);
        return;
    }
    if (finished_) {
        return;
    }
    if (toUpstream_.done() && toClient_.done()) {
        finish(RelayEnd::Finished, 0);
    } else if (budgetUp == 0 || budgetDown == 0) {
        ++resources_.budgetYields;
        loop_.runAgain(*this);
    }
}

Relay::Step Relay::transfer(Direction& d, std::size_t& budget) {
    if (d.done()) {
        return Step::Idle;
    }
    bool moved = false;
    if (d.pending()) {
        if (!d.to.writable) {
            return Step::Idle;
        }
        moved = flush(d);
        if (finished_) {
            return Step::Stopped;
        }
        if (d.pending()) {
            return moved ? Step::Moved : Step::Idle;
        }
    }
    if (d.to.resetError != 0) {
        return moved ? Step::Moved : Step::Idle;  // nothing can be delivered any more
    }
    if (d.from.readable && !d.from.readEof && budget > 0) {
        std::size_t got = 0;
        bool changed = useSplice(d) ? readSplice(d, budget, got)
                                    : readCopy(d, std::min(budget, ChunkPool::kChunkSize), got);
        if (finished_) {
            return Step::Stopped;
        }
        moved = moved || changed;
        budget -= std::min(budget, got);
    }
    if (d.from.readEof && !d.pending() && d.to.resetError == 0 && !d.to.writeShut) {
        if (d.from.resetError != 0) {
            finish(d.from.isClient ? RelayEnd::ClientReset : RelayEnd::UpstreamReset,
                   d.from.resetError);
            return Step::Stopped;
        }
        if (auto shut = sys::shutdownWrite(d.to.fd.get()); !shut) {
            sideFailed(d.to, shut.error());
            return finished_ ? Step::Stopped : Step::Moved;
        }
        d.to.writeShut = true;
        moved = true;
    }
    return moved ? Step::Moved : Step::Idle;
}

// Reads at most `want` bytes into the scratch buffer and sends them on at once; what `to` does
// not take is parked in a chunk. Returns whether anything changed (bytes, EOF, error); `got`
// is the number of bytes read.
bool Relay::readCopy(Direction& d, std::size_t want, std::size_t& got) {
    char* scratch = resources_.scratch.get();
    auto read = sys::readSome(d.from.fd.get(), scratch, want);
    if (!read) {
        if (isTransient(read.error())) {
            d.from.readable = read.error() == EINTR;
            return false;
        }
        if (d.from.resetError == 0) {
            d.from.resetError = read.error();
        }
        d.from.readEof = true;
        return true;
    }
    std::size_t n = read.value();
    got = n;
    if (n == 0) {
        d.from.readEof = true;
        return true;
    }
    if (n >= kSpliceThreshold && resources_.splice == SpliceMode::Auto) {
        d.bulk = true;
    }
    std::size_t sent = 0;
    if (d.to.writable) {
        auto written = sys::writeSome(d.to.fd.get(), scratch, n);
        if (written) {
            sent = written.value();
        } else if (!isTransient(written.error())) {
            sideFailed(d.to, written.error());
            return true;
        }
    }
    d.bytes += sent;
    if (sent < n) {
        d.to.writable = false;
        d.parked = resources_.chunks.acquire();
        std::memcpy(d.parked.get(), scratch + sent, n - sent);
        d.parkedBegin = 0;
        d.parkedEnd = static_cast<std::uint32_t>(n - sent);
    }
    return true;
}

// socket -> pipe -> socket. The relay counts what is in the pipe: EAGAIN from splice() cannot
// tell an empty socket from a full pipe.
bool Relay::readSplice(Direction& d, std::size_t want, std::size_t& got) {
    if (!d.pipe) {
        d.pipe = resources_.pipes.acquire();
        if (!d.pipe) {
            return readCopy(d, std::min(want, ChunkPool::kChunkSize), got);  // at the cap: copy
        }
    }
    want = std::min(want, d.pipe->capacity);
    ssize_t n =
        ::splice(d.from.fd.get(), nullptr, d.pipe->writeEnd.get(), nullptr, want, kSpliceFlags);
    if (n <= 0) {
        int err = n == 0 ? 0 : errno;
        resources_.pipes.release(std::move(d.pipe), true);
        if (n < 0 && isTransient(err)) {
            d.from.readable = err == EINTR;
            return false;
        }
        d.from.readEof = true;
        if (d.from.resetError == 0) {
            d.from.resetError = err;  // 0 for a plain EOF; a reset seen by a write stays
        }
        return true;
    }
    got = static_cast<std::size_t>(n);
    d.inPipe = static_cast<std::uint32_t>(n);
    if (d.to.writable) {
        flush(d);
    }
    if (d.inPipe > 0) {
        d.to.writable = false;
    }
    return true;
}

// Sends what is parked or in the pipe. Returns whether any byte left.
bool Relay::flush(Direction& d) {
    std::size_t sent = 0;
    if (d.parkedEnd > d.parkedBegin) {
        auto written = sys::writeSome(d.to.fd.get(), d.parked.get() + d.parkedBegin,
                                      d.parkedEnd - d.parkedBegin);
        if (!written) {
            if (isTransient(written.error())) {
                d.to.writable = written.error() == EINTR;
                return false;
            }
            sideFailed(d.to, written.error());
            return false;
        }
        sent = written.value();
        d.parkedBegin += static_cast<std::uint32_t>(sent);
        if (d.parkedBegin == d.parkedEnd) {
            resources_.chunks.release(std::move(d.parked));
            d.parkedBegin = d.parkedEnd = 0;
        } else {
            d.to.writable = false;
        }
    } else if (d.inPipe > 0) {
        ssize_t n = ::splice(d.pipe->readEnd.get(), nullptr, d.to.fd.get(), nullptr, d.inPipe,
                             kSpliceFlags);
        if (n < 0) {
            if (isTransient(errno)) {
                d.to.writable = errno == EINTR;
                return false;
            }
            sideFailed(d.to, errno);
            return false;
        }
        sent = static_cast<std::size_t>(n);
        d.inPipe -= static_cast<std::uint32_t>(n);
        if (d.inPipe == 0) {
            resources_.pipes.release(std::move(d.pipe), true);
        } else {
            d.to.writable = false;
        }
    }
    d.bytes += sent;
    return sent > 0;
}

// `side` reset (or its socket failed otherwise). What was on its way to it is lost, as it would
// be for a direct peer. What it sent before the reset is still delivered: the relay ends once
// its own direction has been drained.
void Relay::sideFailed(Side& side, int error) {
    if (side.resetError == 0) {
        side.resetError = error;
    }
    Direction& toSide = &side == &client_ ? toClient_ : toUpstream_;
    Direction& fromSide = &side == &client_ ? toUpstream_ : toClient_;
    dropPending(toSide);
    side.readable = true;  // drain what is queued, then meet the error (or EOF)
    if (fromSide.done() || (side.readEof && !fromSide.pending())) {
        finish(side.isClient ? RelayEnd::ClientReset : RelayEnd::UpstreamReset, side.resetError);
    }
}

void Relay::dropPending(Direction& d) noexcept {
    if (d.parked) {
        resources_.chunks.release(std::move(d.parked));
    }
    d.parkedBegin = d.parkedEnd = 0;
    if (d.pipe) {
        resources_.pipes.release(std::move(d.pipe), d.inPipe == 0);
    }
    d.inPipe = 0;
}

bool Relay::useSplice(const Direction& d) const noexcept {
    switch (resources_.splice) {
        case SpliceMode::Never:
            return false;
        case SpliceMode::Always:
            return true;
        case SpliceMode::Auto:
            return d.bulk;
    }
    return false;
}

void Relay::finish(RelayEnd end, int error) {
    finished_ = true;
    resumeHook.unlink();
    dropPending(toUpstream_);
    dropPending(toClient_);
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
        case RelayEnd::OutOfMemory:
            upstream_.fd.reset();
            sys::resetAndClose(client_.fd);
            break;
    }
    observer_.onRelayDone(end, error);
}

}  // namespace tplab
