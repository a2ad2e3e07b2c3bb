// Accepting, limiting, draining and counting; each connection's life is in Session.
#include "proxy_server.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "log.hpp"
#include "socket_ops.hpp"

namespace tplab {
namespace {

constexpr int kAcceptBatch = 64;
constexpr auto kAcceptRetryAfterResourceError = std::chrono::milliseconds(100);

// accept() errors that concern only the connection being accepted: try the next one.
bool isPerConnectionAcceptError(int err) {
    return err == ECONNABORTED || err == EINTR || err == EPROTO || err == EPERM;
}

}  // namespace

ProxyServer::ProxyServer(EventLoop& loop, Backend& backend, EventSink& events, ProxyOptions options)
    : loop_(loop), backend_(backend), events_(events), options_(std::move(options)) {}

ProxyServer::~ProxyServer() {
    closeListeners();
}

// Fails at start, with the reason, rather than on every connection later.
void ProxyServer::checkPrivilegedOptionsAllowed() {
    if (!options_.session.mark && !options_.session.spoofSource) {
        return;
    }
    auto probe = sys::openSocket(AF_INET, SOCK_STREAM);
    if (!probe) {
        throw setupError(probe.error(), "socket(AF_INET, SOCK_STREAM)");
    }
    if (const auto& mark = options_.session.mark) {
        auto status =
            sys::setIntOption(probe.value().get(), SOL_SOCKET, SO_MARK, static_cast<int>(*mark));
        if (!status) {
            throw setupError(status.error(), "setsockopt(SO_MARK, " + std::to_string(*mark) +
                                                 ") (--mark needs CAP_NET_ADMIN)");
        }
    }
    if (options_.session.spoofSource) {
        auto status = sys::setIntOption(probe.value().get(), SOL_IP, IP_TRANSPARENT, 1);
        if (!status) {
            throw setupError(status.error(),
                             "setsockopt(IP_TRANSPARENT, 1) (--spoof-source needs CAP_NET_ADMIN)");
        }
    }
}

void ProxyServer::start() {
    checkPrivilegedOptionsAllowed();
    for (const auto& address : options_.listen) {
        ListenerOptions listenerOptions;
        if (address.isIpv6() && address.isWildcard()) {
            for (const auto& other : options_.listen) {
                if (other.isIpv4() && other.port() == address.port()) {
                    listenerOptions.ipv6Only = true;
                }
            }
        }
        if (options_.udp) {  // first: a mode that cannot do UDP says so before anything listens
            if (!udp_) {
                udp_ = std::make_unique<UdpProxy>(loop_, backend_, events_, stats_, nextId_,
                                                  *options_.udp);
            }
            udp_->listen(address, listenerOptions);
        }
        auto listener = std::make_unique<Listener>();
        listener->server = this;
        listener->fd = backend_.openListener(address, listenerOptions);
        auto bound = sys::localAddress(listener->fd.get());
        listener->address = bound ? bound.value() : address;
        loop_.add(listener->fd.get(), EPOLLIN, listener.get());
        listener->registered = true;
        log::info(std::string(backend_.name()) + " mode: listening on " +
                  listener->address.toString() +
                  (listenerOptions.ipv6Only || !address.isWildcard() || address.isIpv4()
                       ? ""
                       : " (dual-stack: IPv4 clients too)"));
        if (events_.enabled()) {
            events_.write(listeningEvent(backend_.name(), listener->address));
        }
        listeners_.push_back(std::move(listener));
    }
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
        if (sessions_.size() >= options_.maxConnections) {
            ++stats_.acceptPausedAtLimit;
            log::debug("--max-connections " + std::to_string(options_.maxConnections) +
                       " reached: pausing accept()");
            pauseAccepting();
            return;
        }
        auto accepted = sys::acceptFrom(listener.fd.get());
        if (!accepted) {
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
            log::warn("accept(" + listener.address.toString() + "): " + errnoText(err) +
                      "; retrying in 100 ms");
            pauseAccepting();
            loop_.runAfter(kAcceptRetryAfterResourceError, [this] { resumeAccepting(); });
            return;
        }
        ++stats_.accepted;
        std::uint64_t id = nextId_++;
        auto session =
            std::make_unique<Session>(*this, id, std::move(accepted.value()), listener.address);
        Session& started = *session;
        sessions_.emplace(id, std::move(session));
        stats_.active = sessions_.size();
        started.start();
    }
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

void ProxyServer::resumeAccepting() {
    if (draining_ || sessions_.size() >= options_.maxConnections) {
        return;
    }
    acceptPaused_ = false;
    for (auto& listener : listeners_) {
        if (!listener->registered && listener->fd) {
            loop_.add(listener->fd.get(), EPOLLIN, listener.get());
            listener->registered = true;
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

void ProxyServer::beginDrain() {
    if (draining_) {
        log::info("second stop signal: resetting " + std::to_string(sessions_.size()) +
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
    if (sessions_.empty()) {
        loop_.stop();
        return;
    }
    auto seconds = std::chrono::duration<double>(options_.drainTimeout).count();
    log::info("stopping: waiting up to " + log::formatSeconds(seconds) + " s for " +
              std::to_string(sessions_.size()) + " open connection(s)");
    loop_.runAfter(options_.drainTimeout, [this] {
        abortAll(CloseReason::DrainTimeout);
        loop_.stop();
    });
}

void ProxyServer::abortAll(CloseReason reason) {
    std::vector<Session*> open;
    for (auto& [id, session] : sessions_) {
        open.push_back(session.get());
    }
    for (Session* session : open) {
        session->abort(reason);
    }
}

void ProxyServer::writeStats(std::string_view trigger) {
    stats_.active = sessions_.size() + (udp_ ? udp_->sessionCount() : 0);
    if (events_.enabled()) {
        events_.write(statsEvent(trigger, stats_));
    }
}

bool ProxyServer::isOwnListener(const Endpoint& destination) {
    for (const auto& listener : listeners_) {
        if (listener->address.port() != destination.port()) {
            continue;
        }
        if (listener->address.sameAddress(destination)) {
            return true;
        }
        if (listener->address.isWildcard() && sys::isLocalAddress(destination)) {
            return true;
        }
    }
    return false;
}

namespace {
std::string pairKey(const Endpoint& local, const Endpoint& peer) {
    return local.unmapped().toString() + ">" + peer.unmapped().toString();
}
}  // namespace

bool ProxyServer::isOwnUpstream(const Endpoint& client, const Endpoint& destination) const {
    return upstreamPairs_.count(pairKey(client, destination)) > 0;
}

void ProxyServer::upstreamOpened(const Endpoint& local, const Endpoint& peer) {
    upstreamPairs_.insert(pairKey(local, peer));
}

void ProxyServer::upstreamClosed(const Endpoint& local, const Endpoint& peer) {
    upstreamPairs_.erase(pairKey(local, peer));
}

void ProxyServer::sessionClosed(Session& session, CloseReason reason,
                                std::uint64_t clientToUpstream, std::uint64_t upstreamToClient) {
    ++stats_.closedFor(reason);
    stats_.bytesClientToUpstream += clientToUpstream;
    stats_.bytesUpstreamToClient += upstreamToClient;
    auto found = sessions_.find(session.id());
    if (found != sessions_.end()) {
        // A later event of this batch may still point at the session: destroy it afterwards.
        retired_.push_back(std::move(found->second));
        sessions_.erase(found);
        if (retired_.size() == 1) {
            loop_.defer([this] { retired_.clear(); });
        }
    }
    stats_.active = sessions_.size();
    if (draining_ && sessions_.empty()) {
        loop_.stop();
    } else if (acceptPaused_ && sessions_.size() < options_.maxConnections) {
        resumeAccepting();
    }
}

}  // namespace tplab
