// The UDP session table. Datagrams arrive on the transparent listener with their original
// destination in a control message; each (client, destination) pair gets a connected upstream
// socket, and replies leave from a socket bound to that destination.
#include "udp_proxy.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "log.hpp"
#include "socket_ops.hpp"
#include "spoof_source.hpp"

namespace tplab {
namespace {

constexpr int kDatagramBatch = 64;
constexpr std::size_t kMaxDatagram = 65536;

std::string sessionKey(const Endpoint& client, const Endpoint& destination) {
    return client.toString() + ">" + destination.toString();
}

double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

struct UdpProxy::Listener : EventHandler {
    UdpProxy* proxy = nullptr;
    Fd fd;
    Endpoint address;
    void onEvents(std::uint32_t /*events*/) override { proxy->onDatagram(*this); }
};

struct UdpProxy::Session : EventHandler {
    UdpProxy* proxy = nullptr;
    std::string key;
    std::uint64_t id = 0;
    Endpoint client;
    Endpoint destination;
    Fd upstream;
    std::shared_ptr<Fd> reply;  // bound to `destination`, shared by its sessions
    std::uint64_t bytesToUpstream = 0;
    std::uint64_t bytesToClient = 0;
    std::uint64_t datagramsToUpstream = 0;
    std::uint64_t datagramsToClient = 0;
    Clock::time_point started = Clock::now();
    Clock::time_point lastActivity = Clock::now();
    void onEvents(std::uint32_t /*events*/) override { proxy->onUpstreamReadable(*this); }
};

UdpProxy::UdpProxy(EventLoop& loop, Backend& backend, EventSink& events, ProxyStats& stats,
                   std::atomic<std::uint64_t>& nextId, UdpSettings settings)
    : loop_(loop),
      backend_(backend),
      events_(events),
      stats_(stats),
      nextId_(nextId),
      settings_(std::move(settings)) {}

UdpProxy::~UdpProxy() {
    stop(CloseReason::Stopped);
}

void UdpProxy::listen(const Endpoint& address, const ListenerOptions& options) {
    auto listener = std::make_unique<Listener>();
    listener->proxy = this;
    listener->fd = backend_.openDatagramListener(address, options);
    auto bound = sys::localAddress(listener->fd.get());
    listener->address = bound ? bound.value() : address;
    loop_.add(listener->fd.get(), EPOLLIN, listener.get());
    log::info(std::string(backend_.name()) + " mode: UDP on " + listener->address.toString());
    if (events_.enabled()) {
        auto event = listeningEvent(backend_.name(), listener->address);
        event["protocol"] = "udp";
        events_.write(event);
    }
    listeners_.push_back(std::move(listener));
    if (!sweepTimer_) {
        scheduleSweep();
    }
}

// Idle sessions are found by a sweep a few times per idle period, not by a timer per session.
void UdpProxy::scheduleSweep() {
    auto every = std::clamp<Clock::duration>(
        settings_.idleTimeout / 4, std::chrono::milliseconds(50), std::chrono::seconds(1));
    sweepTimer_ = loop_.runAfter(every, [this] {
        sweepTimer_.reset();
        sweepIdle();
        if (!listeners_.empty()) {
            scheduleSweep();
        }
    });
}

void UdpProxy::onDatagram(Listener& listener) {
    std::array<char, kMaxDatagram> data{};
    alignas(cmsghdr) std::array<char, 256> control{};
    for (int i = 0; i < kDatagramBatch; ++i) {
        sockaddr_storage from{};
        iovec buffer{data.data(), data.size()};
        msghdr message{};
        message.msg_name = &from;
        message.msg_namelen = sizeof(from);
        message.msg_iov = &buffer;
        message.msg_iovlen = 1;
        message.msg_control = control.data();
        message.msg_controllen = control.size();
        ssize_t n = ::recvmsg(listener.fd.get(), &message, 0);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                log::warn("recvmsg(" + listener.address.toString() + "): " + errnoText(errno));
            }
            return;
        }
        Endpoint client =
            Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&from), message.msg_namelen)
                .unmapped();
        auto destination = backend_.datagramDestination(message);
        if (!destination) {
            ++stats_.udpDatagramsDropped;
            log::debug("datagram from " + client.toString() + " without IP_ORIGDSTADDR: dropped");
            continue;
        }
        Session* session = sessionFor(client, destination->unmapped(), listener);
        if (session == nullptr) {
            ++stats_.udpDatagramsDropped;
            continue;
        }
        if (::send(session->upstream.get(), data.data(), static_cast<std::size_t>(n), 0) >= 0) {
            session->bytesToUpstream += static_cast<std::uint64_t>(n);
            ++session->datagramsToUpstream;
            session->lastActivity = Clock::now();
        }
    }
}

UdpProxy::Session* UdpProxy::sessionFor(const Endpoint& client, const Endpoint& destination,
                                        const Listener& listener) {
    const std::string key = sessionKey(client, destination);
    if (auto found = sessions_.find(key); found != sessions_.end()) {
        return found->second.get();
    }
    if (destination.port() == listener.address.port() &&
        (destination.sameAddress(listener.address) || sys::isLocalAddress(destination))) {
        log::debug("datagram from " + client.toString() + " to the proxy's own port: dropped");
        return nullptr;  // it reached the listener without TPROXY: relaying it would loop
    }
    if (sessions_.size() >= settings_.maxSessions) {
        log::debug("--max-udp-sessions reached: datagram from " + client.toString() + " dropped");
        return nullptr;
    }
    auto session = std::make_unique<Session>();
    session->proxy = this;
    session->key = key;
    session->id = nextId_++;
    session->client = client;
    session->destination = destination;
    auto socket = sys::openSocket(destination.family(), SOCK_DGRAM);
    if (!socket) {
        return nullptr;
    }
    session->upstream = std::move(socket.value());
    int fd = session->upstream.get();
    if (settings_.mark) {
        sys::setIntOption(fd, SOL_SOCKET, SO_MARK, static_cast<int>(*settings_.mark));
    }
    if (settings_.spoofSource) {
        if (auto bound = bindToClientAddress(fd, client, destination); !bound) {
            log::debug("bind(" + client.addressString() +
                       ") for --spoof-source: " + errnoText(bound.error()));
            return nullptr;
        }
    }
    if (auto connected = sys::connectTo(fd, destination); !connected) {
        log::debug("connect(" + destination.toString() + ", UDP): " + errnoText(connected.error()));
        return nullptr;
    }
    session->reply = replySocketFor(destination);
    if (!session->reply) {
        return nullptr;
    }
    loop_.add(fd, EPOLLIN, session.get());
    ++stats_.accepted;
    if (events_.enabled()) {
        DestinationLookup lookup;
        lookup.destination = destination;
        lookup.method = destination.isIpv6() ? "IPV6_ORIGDSTADDR" : "IP_ORIGDSTADDR";
        events_.write(acceptedEvent(session->id, backend_.name(), client, listener.address,
                                    destination, lookup, "udp"));
        auto local = sys::localAddress(fd);
        auto event =
            connectedEvent(session->id, local ? local.value() : Endpoint(), destination, 0);
        event["protocol"] = "udp";
        events_.write(event);
    }
    Session* raw = session.get();
    sessions_.emplace(key, std::move(session));
    return raw;
}

// SO_REUSEADDR lets every session towards one destination share this socket, and lets it
// coexist with a listener; IP_TRANSPARENT lets it bind an address that is not ours.
std::shared_ptr<Fd> UdpProxy::replySocketFor(const Endpoint& destination) {
    const std::string key = destination.toString();
    if (auto existing = replySockets_[key].lock()) {
        return existing;
    }
    auto socket = sys::openSocket(destination.family(), SOCK_DGRAM);
    if (!socket) {
        return nullptr;
    }
    auto reply = std::make_shared<Fd>(std::move(socket.value()));
    int fd = reply->get();
    bool v6 = destination.isIpv6();
    bool ok = sys::setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1).ok() &&
              (v6 ? sys::setIntOption(fd, SOL_IPV6, IPV6_TRANSPARENT, 1)
                  : sys::setIntOption(fd, SOL_IP, IP_TRANSPARENT, 1))
                  .ok() &&
              (!v6 || sys::setIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1).ok());
    if (auto bound = sys::bindTo(fd, destination); !ok || !bound) {
        log::warn("reply socket bound to " + destination.toString() + ": " +
                  errnoText(bound ? EPERM : bound.error()));
        return nullptr;
    }
    ::shutdown(fd, SHUT_RD);  // it only sends
    replySockets_[key] = reply;
    return reply;
}

void UdpProxy::onUpstreamReadable(Session& session) {
    std::array<char, kMaxDatagram> data{};
    for (int i = 0; i < kDatagramBatch; ++i) {
        ssize_t n = ::recv(session.upstream.get(), data.data(), data.size(), 0);
        if (n < 0) {
            if (errno == ECONNREFUSED) {
                // ICMP port unreachable from the server: nothing listens there.
                close(session.key, CloseReason::ConnectRefused,
                      "ICMP port unreachable from " + session.destination.toString());
            }
            return;
        }
        const Endpoint& client = session.client;
        if (::sendto(session.reply->get(), data.data(), static_cast<std::size_t>(n), 0,
                     client.sockaddrPtr(), client.length()) >= 0) {
            session.bytesToClient += static_cast<std::uint64_t>(n);
            ++session.datagramsToClient;
            session.lastActivity = Clock::now();
        }
    }
}

void UdpProxy::sweepIdle() {
    auto now = Clock::now();
    std::vector<std::string> idle;
    for (const auto& [key, session] : sessions_) {
        if (now - session->lastActivity >= settings_.idleTimeout) {
            idle.push_back(key);
        }
    }
    for (const auto& key : idle) {
        close(key, CloseReason::IdleTimeout, "");
    }
}

void UdpProxy::close(const std::string& key, CloseReason reason, const std::string& detail) {
    auto found = sessions_.find(key);
    if (found == sessions_.end()) {
        return;
    }
    Session& session = *found->second;
    loop_.remove(session.upstream.get());
    ++stats_.closedFor(reason);
    stats_.bytesClientToUpstream += session.bytesToUpstream;
    stats_.bytesUpstreamToClient += session.bytesToClient;
    if (events_.enabled()) {
        auto event = closedEvent(session.id, reason, session.bytesToUpstream, session.bytesToClient,
                                 msSince(session.started), detail, "udp");
        event["datagrams_client_to_upstream"] = session.datagramsToUpstream;
        event["datagrams_upstream_to_client"] = session.datagramsToClient;
        events_.write(event);
    }
    // A later event of this batch may still point at the session: destroy it afterwards.
    retired_.push_back(std::move(found->second));
    sessions_.erase(found);
    if (retired_.size() == 1) {
        loop_.defer([this] { retired_.clear(); });
    }
}

void UdpProxy::stop(CloseReason reason) {
    for (auto& listener : listeners_) {
        loop_.remove(listener->fd.get());
    }
    listeners_.clear();
    if (sweepTimer_) {
        loop_.cancel(*sweepTimer_);
        sweepTimer_.reset();
    }
    std::vector<std::string> keys;
    for (const auto& [key, session] : sessions_) {
        keys.push_back(key);
    }
    for (const auto& key : keys) {
        close(key, reason, "");
    }
}

}  // namespace tplab
