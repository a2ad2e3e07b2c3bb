// The UDP relay. Datagrams arrive on the transparent listener with their original destination
// in a control message; each (client, destination) pair gets a connected upstream socket, and
// replies leave from a socket bound to that destination. A new flow is always served: when a
// limit is reached, the least recently used session gives way (see udp_session_table.hpp).
#include "udp_proxy.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <random>
#include <system_error>

#include "log.hpp"
#include "socket_ops.hpp"
#include "upstream_socket.hpp"

namespace tplab {
namespace {

constexpr int kDatagramBatch = 64;
constexpr std::size_t kMaxDatagram = 65536;

double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

bool isFdShortage(int err) {
    return err == EMFILE || err == ENFILE;
}

std::uint64_t randomSeed() {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
}

}  // namespace

std::size_t UdpSettings::perClientLimit() const noexcept {
    std::size_t limit = maxSessionsPerClient == 0 ? maxSessions / 8 : maxSessionsPerClient;
    return std::clamp<std::size_t>(limit, 1, std::max<std::size_t>(maxSessions, 1));
}

// A socket the clients' datagrams arrive on: a listener, or a reply socket.
struct UdpProxy::Receiver : EventHandler {
    UdpProxy* proxy = nullptr;
    Fd fd;
    Endpoint address;
    bool isListener = false;  // the listener asks the backend for the destination
    bool closed = false;
    void onEvents(std::uint32_t /*events*/) override {
        if (!closed) {
            proxy->onDatagram(*this);
        }
    }
};

struct UdpProxy::Listener : Receiver {
    Listener() { isListener = true; }
};

// Bound to one original destination, shared by its sessions to send the replies from. Through
// TPROXY nothing arrives on it (the target hands datagrams to the listener); through AnyIP the
// kernel's own lookup prefers it to the wildcard listener, so clients' datagrams for its
// destination arrive here, and the destination is the socket's own address.
struct UdpProxy::ReplySocket : Receiver {
    std::size_t users = 0;
};

struct UdpProxy::Session : UdpSessionTable::Entry, EventHandler {
    UdpProxy* proxy = nullptr;
    std::uint64_t id = 0;
    Endpoint client;
    Endpoint destination;
    Fd upstream;
    int replyFd = -1;  // the shared socket bound to `destination`, owned by replySockets_
    bool closed = false;
    std::uint64_t bytesToUpstream = 0;
    std::uint64_t bytesToClient = 0;
    std::uint64_t datagramsToUpstream = 0;
    std::uint64_t datagramsToClient = 0;
    Clock::time_point started = Clock::now();
    Clock::time_point lastActivity = Clock::now();
    void onEvents(std::uint32_t /*events*/) override {
        if (!closed) {  // an event of this batch may reach a session closed earlier in it
            proxy->onUpstreamReadable(*this);
        }
    }
};

UdpProxy::UdpProxy(EventLoop& loop, Backend& backend, EventSink& events, ProxyStats& stats,
                   std::atomic<std::uint64_t>& nextId, UdpSettings settings)
    : loop_(loop),
      backend_(backend),
      events_(events),
      stats_(stats),
      nextId_(nextId),
      settings_(std::move(settings)),
      buffer_(std::make_unique_for_overwrite<char[]>(kMaxDatagram)),
      table_(settings_.maxSessions, settings_.perClientLimit(), randomSeed()),
      replySockets_(0, UdpKeyHash{randomSeed()}) {}

UdpProxy::~UdpProxy() {
    stop(CloseReason::Stopped);
}

void UdpProxy::listen(const Endpoint& address, const ListenerOptions& options) {
    auto listener = std::make_unique<Listener>();
    listener->proxy = this;
    listener->fd = backend_.openDatagramListener(address, options);
    auto bound = sys::localAddress(listener->fd.get());
    listener->address = bound ? bound.value() : address;
    if (Status added = loop_.add(listener->fd.get(), EPOLLIN, listener.get()); !added) {
        throw std::system_error(
            added.error(), std::generic_category(),
            "epoll_ctl(ADD) for the UDP listener on " + listener->address.toString());
    }
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

void UdpProxy::onDatagram(Receiver& receiver) {
    char* data = buffer_.get();
    alignas(cmsghdr) std::array<char, 256> control;
    for (int i = 0; i < kDatagramBatch; ++i) {
        sockaddr_storage from;
        iovec buffer{data, kMaxDatagram};
        msghdr message{};
        message.msg_name = &from;
        message.msg_namelen = sizeof(from);
        message.msg_iov = &buffer;
        message.msg_iovlen = 1;
        message.msg_control = control.data();
        message.msg_controllen = control.size();
        ssize_t n = ::recvmsg(receiver.fd.get(), &message, 0);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                log::warn("recvmsg(" + receiver.address.toString() + "): " + errnoText(errno));
            }
            return;
        }
        Endpoint client =
            Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&from), message.msg_namelen);
        auto destination = receiver.isListener ? backend_.datagramDestination(message)
                                               : std::optional<Endpoint>(receiver.address);
        if (!destination) {
            ++stats_.udpDatagramsDropped;
            ++stats_.udpDroppedNoDestination;
            if (log::enabled(log::Level::Debug)) {
                log::debug("datagram from " + client.toString() +
                           " without IP_ORIGDSTADDR: dropped");
            }
            continue;
        }
        Session* session = sessionFor(client, *destination, receiver);
        if (session == nullptr) {
            ++stats_.udpDatagramsDropped;
            continue;
        }
        if (::send(session->upstream.get(), data, static_cast<std::size_t>(n), 0) < 0) {
            ++stats_.udpSendErrors;
            continue;
        }
        session->bytesToUpstream += static_cast<std::uint64_t>(n);
        ++session->datagramsToUpstream;
        session->lastActivity = Clock::now();
        table_.touch(*session);
    }
}

// Finds the flow's session, or opens one, making room first; nullptr (the datagram is dropped,
// and the reason counted) when the datagram loops or the session cannot be opened.
UdpProxy::Session* UdpProxy::sessionFor(const Endpoint& client, const Endpoint& destination,
                                        const Receiver& receiver) {
    const UdpFlowKey key{UdpEndpointKey::from(client), UdpEndpointKey::from(destination)};
    if (auto* found = table_.find(key)) {
        return static_cast<Session*>(found);
    }
    // A reply socket exists only for a destination a listener accepted: no loop to catch there.
    if (receiver.isListener && destination.port() == receiver.address.port() &&
        (destination.sameAddress(receiver.address) || sys::isLocalAddress(destination))) {
        ++stats_.udpDroppedLoop;
        if (log::enabled(log::Level::Debug)) {
            log::debug("datagram from " + client.toString() + " to the proxy's own port: dropped");
        }
        return nullptr;  // it reached the listener without TPROXY: relaying it would loop
    }
    if (const auto& access = settings_.access) {
        auto refusal = access->checkClient(client);
        if (!refusal) {
            refusal = access->checkDestination(destination);
        }
        if (refusal) {  // no event: every datagram of the flow would make one
            ++stats_.udpDroppedNotAllowed;
            if (log::enabled(log::Level::Debug)) {
                log::debug("datagram from " + client.toString() + " to " + destination.toString() +
                           ": dropped, " + refusal->detail);
            }
            return nullptr;
        }
    }
    for (auto victim = table_.victimFor(key.client); victim.entry != nullptr;
         victim = table_.victimFor(key.client)) {
        if (victim.reason == UdpEviction::ClientLimit) {
            ++stats_.udpEvictedClientLimit;
            evict(*victim.entry, "--max-udp-sessions-per-client " +
                                     std::to_string(table_.maxPerClient()) + " reached by " +
                                     client.unmapped().addressString());
        } else {
            ++stats_.udpEvictedTableFull;
            evict(*victim.entry,
                  "--max-udp-sessions " + std::to_string(table_.maxSessions()) + " reached");
        }
    }
    try {
        if (Session* session =
                openSession(key, client.unmapped(), destination.unmapped(), receiver)) {
            return session;
        }
    } catch (const std::exception& e) {  // ENOMEM in epoll_ctl, bad_alloc: this flow only
        log::warn("UDP session " + client.toString() + " -> " + destination.toString() + ": " +
                  e.what());
    }
    ++stats_.udpDroppedSessionError;
    return nullptr;
}

UdpProxy::Session* UdpProxy::openSession(const UdpFlowKey& key, const Endpoint& client,
                                         const Endpoint& destination, const Receiver& receiver) {
    // Out of fds, the least recently used session gives its fds to the new flow.
    auto withFdRetry = [this](auto open) {
        auto opened = open();
        if (!opened && isFdShortage(opened.error()) && table_.leastRecentlyUsed() != nullptr) {
            ++stats_.udpEvictedFdLimit;
            evict(*table_.leastRecentlyUsed(), "out of file descriptors (EMFILE)");
            opened = open();
        }
        return opened;
    };
    auto upstream = withFdRetry([&] { return openUpstreamSocket(client, destination); });
    if (!upstream) {
        return nullptr;
    }
    auto reply = withFdRetry([&] { return replySocketFor(key.destination, destination); });
    if (!reply) {
        return nullptr;
    }
    auto owned = std::make_unique<Session>();
    Session& session = *owned;
    session.proxy = this;
    session.id = nextId_++;
    session.client = client;
    session.destination = destination;
    session.upstream = std::move(upstream.value());
    session.replyFd = reply.value()->fd.get();
    ++reply.value()->users;
    try {
        table_.insert(key, std::move(owned));
    } catch (...) {
        releaseReplySocket(session);
        throw;
    }
    if (Status added = loop_.add(session.upstream.get(), EPOLLIN, &session); !added) {
        log::warn("epoll_ctl(ADD) for the UDP session " + client.toString() + " -> " +
                  destination.toString() + ": " + errnoText(added.error()));
        releaseReplySocket(session);
        table_.remove(session);
        return nullptr;
    }
    stats_.udpSessions = table_.size();
    ++stats_.accepted;
    if (events_.enabled()) {
        DestinationLookup lookup;
        lookup.destination = destination;
        // A reply socket is bound to the destination: its own address is the answer.
        lookup.method = !receiver.isListener   ? "getsockname"
                        : destination.isIpv6() ? "IPV6_ORIGDSTADDR"
                                               : "IP_ORIGDSTADDR";
        events_.write(acceptedEvent(session.id, backend_.name(), client, receiver.address,
                                    destination, lookup, "udp"));
        auto local = sys::localAddress(session.upstream.get());
        auto event = connectedEvent(session.id, local ? local.value() : Endpoint(), destination, 0);
        event["protocol"] = "udp";
        events_.write(event);
    }
    return &session;
}

// The upstream socket is prepared as for TCP (upstream_socket.hpp), then connected.
Result<Fd> UdpProxy::openUpstreamSocket(const Endpoint& client, const Endpoint& destination) const {
    UpstreamFailure failure;
    auto socket = tplab::openUpstreamSocket(SOCK_DGRAM, client, destination,
                                            {settings_.mark, settings_.spoofSource}, failure);
    if (!socket) {
        log::debug(failure.call + " for UDP to " + destination.toString() + ": " +
                   errnoText(failure.error));
        return socket;
    }
    if (auto connected = sys::connectTo(socket.value().get(), destination); !connected) {
        log::debug("connect(" + destination.toString() + ", UDP): " + errnoText(connected.error()));
        return Result<Fd>::failure(connected.error());
    }
    return socket;
}

// SO_REUSEADDR lets every session towards one destination share this socket, and lets it
// coexist with a listener; IP_TRANSPARENT lets it bind an address that is not ours.
// The socket lives while a session uses it (releaseReplySocket).
Result<UdpProxy::ReplySocket*> UdpProxy::replySocketFor(const UdpEndpointKey& key,
                                                        const Endpoint& destination) {
    if (auto found = replySockets_.find(key); found != replySockets_.end()) {
        return found->second.get();
    }
    auto socket = sys::openSocket(destination.family(), SOCK_DGRAM);
    if (!socket) {
        log::debug("socket(UDP) to reply as " + destination.toString() + ": " +
                   errnoText(socket.error()));
        return Result<ReplySocket*>::failure(socket.error());
    }
    int fd = socket.value().get();
    bool v6 = destination.isIpv6();
    Status status = sys::setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (status) {
        status = v6 ? sys::setIntOption(fd, SOL_IPV6, IPV6_TRANSPARENT, 1)
                    : sys::setIntOption(fd, SOL_IP, IP_TRANSPARENT, 1);
    }
    if (status && v6) {
        status = sys::setIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    }
    if (status) {
        status = sys::bindTo(fd, destination);
    }
    if (!status) {
        log::warn("reply socket bound to " + destination.toString() + ": " +
                  errnoText(status.error()));
        return Result<ReplySocket*>::failure(status.error());
    }
    auto reply = std::make_unique<ReplySocket>();
    reply->proxy = this;
    reply->fd = std::move(socket.value());
    reply->address = destination;
    if (Status added = loop_.add(fd, EPOLLIN, reply.get()); !added) {
        log::warn("epoll_ctl(ADD) for the reply socket of " + destination.toString() + ": " +
                  errnoText(added.error()));
        return Result<ReplySocket*>::failure(added.error());
    }
    ReplySocket* kept = reply.get();
    replySockets_.emplace(key, std::move(reply));
    stats_.udpReplySockets = replySockets_.size();
    return kept;
}

void UdpProxy::releaseReplySocket(Session& session) {
    if (session.replyFd < 0) {
        return;
    }
    session.replyFd = -1;
    auto found = replySockets_.find(session.key().destination);
    if (found != replySockets_.end() && --found->second->users == 0) {
        ReplySocket& reply = *found->second;
        reply.closed = true;
        // Closing the fd (never duplicated) takes it out of the epoll set; close it now: a flow
        // that evicted this session for its fds needs them.
        reply.fd.reset();
        // A later event of this batch may still point at it: destroy it afterwards.
        retiredReplySockets_.push_back(std::move(found->second));
        replySockets_.erase(found);
        stats_.udpReplySockets = replySockets_.size();
        if (retiredReplySockets_.size() == 1) {
            loop_.defer([this] { retiredReplySockets_.clear(); });
        }
    }
}

void UdpProxy::onUpstreamReadable(Session& session) {
    char* data = buffer_.get();
    for (int i = 0; i < kDatagramBatch; ++i) {
        ssize_t n = ::recv(session.upstream.get(), data, kMaxDatagram, 0);
        if (n < 0) {
            if (errno == ECONNREFUSED) {
                // ICMP port unreachable from the server: nothing listens there.
                close(session, CloseReason::ConnectRefused,
                      "ICMP port unreachable from " + session.destination.toString());
            }
            return;
        }
        const Endpoint& client = session.client;
        if (::sendto(session.replyFd, data, static_cast<std::size_t>(n), 0, client.sockaddrPtr(),
                     client.length()) < 0) {
            ++stats_.udpSendErrors;
            continue;
        }
        session.bytesToClient += static_cast<std::uint64_t>(n);
        ++session.datagramsToClient;
        session.lastActivity = Clock::now();
        table_.touch(session);
    }
}

// The table is in order of last activity, so the idle sessions are the oldest ones.
void UdpProxy::sweepIdle() {
    auto now = Clock::now();
    while (auto* oldest = table_.leastRecentlyUsed()) {
        auto& session = static_cast<Session&>(*oldest);
        if (now - session.lastActivity < settings_.idleTimeout) {
            return;
        }
        close(session, CloseReason::IdleTimeout, "");
    }
}

void UdpProxy::evict(UdpSessionTable::Entry& entry, const std::string& why) {
    close(static_cast<Session&>(entry), CloseReason::Evicted, why);
}

void UdpProxy::close(Session& session, CloseReason reason, const std::string& detail) {
    if (session.closed) {
        return;
    }
    session.closed = true;
    // Closing the fd takes it out of the epoll set: the fd now, the session after this batch.
    session.upstream.reset();
    releaseReplySocket(session);
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
    retired_.push_back(table_.remove(session));
    stats_.udpSessions = table_.size();
    if (retired_.size() == 1) {
        loop_.defer([this] { retired_.clear(); });
    }
}

void UdpProxy::stop(CloseReason reason) {
    for (auto& listener : listeners_) {
        listener->closed = true;
        loop_.remove(listener->fd.get());
    }
    listeners_.clear();
    if (sweepTimer_) {
        loop_.cancel(*sweepTimer_);
        sweepTimer_.reset();
    }
    while (auto* oldest = table_.leastRecentlyUsed()) {
        close(static_cast<Session&>(*oldest), reason, "");
    }
}

}  // namespace tplab
