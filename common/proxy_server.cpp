// Accepting, limiting, draining, timeouts and counting; each connection's life is in Session.
#include "proxy_server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <new>

#include "log.hpp"
#include "socket_ops.hpp"

namespace tplab {
namespace {

// A step of one connection's life outside its own fd handlers (accept, the sweep, a retry): an
// exception closes that connection, never the worker (the handlers do the same: onFailure).
template <typename Step>
void guarded(Session& session, Step&& step) {
    try {
        step();
    } catch (const std::exception& error) {
        session.fail(error);
    }
}

constexpr int kAcceptBatch = 64;
constexpr auto kAcceptRetryAfterResourceError = std::chrono::milliseconds(100);

// accept() errors that concern only the connection being accepted: try the next one.
bool isPerConnectionAcceptError(int err) {
    return err == ECONNABORTED || err == EINTR || err == EPROTO || err == EPERM;
}

// How often the sweep looks for connects and idle connections past their timeout: a fraction
// of the shorter timeout, so a timeout fires at most ~1/8 late.
Clock::duration sweepInterval(const SessionSettings& settings) {
    Clock::duration shortest = settings.connectTimeout;
    if (settings.idleTimeout > Clock::duration::zero()) {
        shortest = std::min(shortest, settings.idleTimeout);
    }
    return std::clamp<Clock::duration>(shortest / 8, std::chrono::milliseconds(5),
                                       std::chrono::milliseconds(250));
}

}  // namespace

ProxyServer::ProxyServer(EventLoop& loop, Backend& backend, EventSink& events, ProxyOptions options,
                         SharedProxyState* shared)
    : loop_(loop),
      backend_(backend),
      events_(events),
      options_(std::move(options)),
      ownShared_(shared == nullptr ? std::make_unique<SharedProxyState>() : nullptr),
      shared_(shared == nullptr ? ownShared_.get() : shared),
      resources_(options_.maxPipes, options_.splice, options_.largePipes) {
    if (ownShared_) {
        ownShared_->budget.setLimits(options_.maxConnections, options_.maxConnectionsPerClient);
    }
}

ProxyServer::~ProxyServer() {
    closeListeners();
    for (auto* timer : {&sweepTimer_, &backOffTimer_}) {
        if (*timer) {
            loop_.cancel(**timer);
        }
    }
    while (Session* session = sessions_.front()) {
        sessions_.remove(*session);
        delete session;  // NOLINT: the list owns its sessions
    }
}

void ProxyServer::start(bool registerGuard) {
    probeUpstreamOptions(options_.session.upstream);
    // Any worker's closed connection may make room for the ones waiting in this one's backlog.
    shared_->budget.onRoomAgain([this] { loop_.post([this] { resumeAccepting(); }); });
    for (const auto& address : options_.listen) {
        ListenerOptions listenerOptions;
        listenerOptions.reusePort = options_.reusePort;
        if (address.isIpv6() && address.isWildcard()) {
            for (const auto& other : options_.listen) {
                if (other.isIpv4() && other.port() == address.port()) {
                    listenerOptions.ipv6Only = true;
                }
            }
        }
        if (options_.udp) {  // first: a mode that cannot do UDP says so before anything listens
            if (!udp_) {
                udp_ = std::make_unique<UdpProxy>(loop_, backend_, events_, stats_, shared_->nextId,
                                                  *options_.udp);
            }
            udp_->listen(address, listenerOptions);
        }
        auto listener = std::make_unique<Listener>();
        listener->server = this;
        listener->fd = backend_.openListener(address, listenerOptions);
        auto bound = sys::localAddress(listener->fd.get());
        listener->address = bound ? bound.value() : address;
        if (auto added = loop_.add(listener->fd.get(), EPOLLIN, listener.get()); !added) {
            throw setupError(added.error(), "epoll_ctl(EPOLL_CTL_ADD, listener " +
                                                listener->address.toString() + ")");
        }
        listener->registered = true;
        if (registerGuard) {
            shared_->loopGuard.addListener(listener->address);
            log::info(std::string(backend_.name()) + " mode: listening on " +
                      listener->address.toString() +
                      (listenerOptions.ipv6Only || !address.isWildcard() || address.isIpv4()
                           ? ""
                           : " (dual-stack: IPv4 clients too)"));
            if (events_.enabled()) {
                events_.write(listeningEvent(backend_.name(), listener->address));
            }
        }
        listeners_.push_back(std::move(listener));
    }
    scheduleSweep();
}

std::vector<Endpoint> ProxyServer::listeningAddresses() const {
    std::vector<Endpoint> result;
    for (const auto& listener : listeners_) {
        result.push_back(listener->address);
    }
    return result;
}

void ProxyServer::acceptAll(Listener& listener) {
    for (int i = 0; i < kAcceptBatch && !acceptPaused_ && !draining_; ++i) {
        if (!shared_->budget.reserve()) {
            ++stats_.acceptPausedAtLimit;
            log::debug("--max-connections reached: pausing accept()");
            pauseAccepting();
            return;
        }
        auto accepted = sys::acceptFrom(listener.fd.get());
        if (!accepted) {
            shared_->budget.unreserve();
            int err = accepted.error();
            if (err == EAGAIN || err == EWOULDBLOCK) {
                return;
            }
            if (isPerConnectionAcceptError(err)) {
                continue;
            }
            // EMFILE, ENFILE, ENOBUFS, ENOMEM: the process is short of something. The pending
            // connection stays queued, so back off instead of spinning on a ready listener.
            ++stats_.acceptErrors;
            backOff("accept(" + listener.address.toString() + "): " + errnoText(err));
            return;
        }
        if (!shared_->budget.admit(accepted.value().peer)) {
            refuseOverClientLimit(std::move(accepted.value()), listener.address);
            continue;
        }
        startSession(std::move(accepted.value()), listener.address);
    }
}

// A client with --max-connections-per-client open is reset at once: it cannot hold the
// connections the other clients need, and its own open ones go on.
void ProxyServer::refuseOverClientLimit(Accepted accepted, const Endpoint& listener) {
    sys::resetAndClose(accepted.fd);
    Endpoint client = accepted.peer.unmapped();
    std::string detail = client.addressString() + " is at --max-connections-per-client " +
                         std::to_string(shared_->budget.perClient());
    log::debug("connection from " + client.toString() + " reset: " + detail);
    if (events_.enabled()) {
        events_.write(Json{{"event", "refused"},
                           {"client", client.toString()},
                           {"listener", listener.toString()},
                           {"reason", "client_limit"},
                           {"detail", detail}});
    }
}

void ProxyServer::startSession(Accepted accepted, const Endpoint& listener) {
    ++stats_.accepted;
    std::uint64_t id = shared_->nextId.fetch_add(1, std::memory_order_relaxed);
    Session* session = nullptr;
    try {
        session = new Session(*this, id, accepted.peer, listener);  // NOLINT: owned by sessions_
    } catch (const std::bad_alloc&) {
        sys::resetAndClose(accepted.fd);
        ++stats_.closedFor(CloseReason::ProxyError);
        log::warn("no memory for a new connection from " + accepted.peer.toString() + ": reset");
        return;
    }
    sessions_.pushBack(*session);
    ++sessionCount_;
    stats_.active = sessionCount_;
    guarded(*session, [&] { session->start(std::move(accepted.fd)); });
}

void ProxyServer::pauseAccepting() {
    acceptPaused_ = true;
    for (auto& listener : listeners_) {
        if (listener->registered) {
            loop_.remove(listener->fd.get());
            listener->registered = false;
        }
    }
}

void ProxyServer::shortOfFileDescriptors(int error) {
    ++stats_.upstreamFdShortages;
    backOff("socket() for an upstream connection: " + errnoText(error));
}

// Gives idle pooled pipes back, stops accepting, and tries again in a while: accepting more
// connections would only take fds that the ones already accepted are waiting for.
void ProxyServer::backOff(const std::string& why) {
    resources_.pipes.trim();
    if (backOffTimer_) {
        return;
    }
    log::warn(why + "; accepting again in 100 ms");
    pauseAccepting();
    backOffTimer_ = loop_.runAfter(kAcceptRetryAfterResourceError, [this] {
        backOffTimer_.reset();
        retrySessionsAwaitingFd();
        resumeAccepting();
    });
}

void ProxyServer::retrySessionsAwaitingFd() {
    for (Session* session = connecting_.front(); session != nullptr;) {
        Session* next = connecting_.next(*session);
        if (session->awaitingFd()) {
            // may back off again, which re-arms the timer
            guarded(*session, [&] { session->retryUpstream(); });
        }
        session = next;
    }
}

void ProxyServer::resumeAccepting() {
    if (draining_ || backOffTimer_ || shared_->budget.full()) {
        return;
    }
    acceptPaused_ = false;
    for (auto& listener : listeners_) {
        if (!listener->registered && listener->fd) {
            if (loop_.add(listener->fd.get(), EPOLLIN, listener.get())) {
                listener->registered = true;
            }
        }
    }
}

void ProxyServer::closeListeners() {
    for (auto& listener : listeners_) {
        if (listener->registered) {
            loop_.remove(listener->fd.get());
            listener->registered = false;
        }
        listener->fd.reset();
    }
}

void ProxyServer::scheduleSweep() {
    sweepTimer_ = loop_.runAfter(sweepInterval(options_.session), [this] {
        sweepTimer_.reset();
        sweep();
        scheduleSweep();
    });
}

// Connects are in start order, so only the oldest need looking at; idle connections are found
// by one pass over the open ones (a few ns each), which needs no per-connection timer.
void ProxyServer::sweep() {
    auto now = Clock::now();
    while (Session* oldest = connecting_.front()) {
        if (now - oldest->connectStarted() < options_.session.connectTimeout) {
            break;
        }
        guarded(*oldest, [&] { oldest->connectTimedOut(); });
    }
    if (sessionCount_ == 0) {  // nothing in flight: give the pools' memory and fds back
        resources_.chunks.trim();
        resources_.pipes.trim();
    }
    auto idleLimit = options_.session.idleTimeout;
    if (idleLimit <= Clock::duration::zero()) {
        return;
    }
    for (Session* session = sessions_.front(); session != nullptr;) {
        Session* next = sessions_.next(*session);
        if (session->relaying() && now - session->lastActivity() >= idleLimit) {
            session->abort(CloseReason::IdleTimeout);
        }
        session = next;
    }
}

void ProxyServer::beginDrain() {
    if (draining_) {
        log::info("second stop signal: resetting " + std::to_string(sessionCount_) +
                  " open connection(s)");
        abortAll(CloseReason::DrainTimeout);
        loop_.stop();
        return;
    }
    draining_ = true;
    closeListeners();
    if (udp_) {
        udp_->stop(CloseReason::Stopped);
    }
    if (sessionCount_ == 0) {
        loop_.stop();
        return;
    }
    auto seconds = std::chrono::duration<double>(options_.drainTimeout).count();
    log::info("stopping: waiting up to " + log::formatSeconds(seconds) + " s for " +
              std::to_string(sessionCount_) + " open connection(s)");
    loop_.runAfter(options_.drainTimeout, [this] {
        abortAll(CloseReason::DrainTimeout);
        loop_.stop();
    });
}

void ProxyServer::abortAll(CloseReason reason) {
    while (Session* session = sessions_.front()) {
        session->abort(reason);  // unlinks it from sessions_
    }
}

ProxyStats ProxyServer::stats() const {
    ProxyStats copy = stats_;
    copy.budgetYields = resources_.budgetYields.get();
    return copy;
}

void ProxyServer::writeStats(std::string_view trigger) {
    if (events_.enabled()) {
        events_.write(statsEvent(trigger, stats()));
    }
}

void ProxyServer::sessionClosed(Session& session, CloseReason reason,
                                std::uint64_t clientToUpstream, std::uint64_t upstreamToClient) {
    ++stats_.closedFor(reason);
    stats_.bytesClientToUpstream += clientToUpstream;
    stats_.bytesUpstreamToClient += upstreamToClient;
    sessions_.remove(session);
    --sessionCount_;
    shared_->budget.release(session.client());  // wakes paused workers when there is room
    stats_.active = sessionCount_ + (udp_ ? udp_->sessionCount() : 0);
    // A later event of this batch may still point at the session: destroy it afterwards.
    retired_.emplace_back(&session);
    if (retired_.size() == 1) {
        loop_.defer([this] { retired_.clear(); });
    }
    if (draining_ && sessionCount_ == 0) {
        loop_.stop();
    }
}

}  // namespace tplab
