// The life of one proxied connection, from accept() to the `closed` event.
#include "session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "log.hpp"
#include "socket_ops.hpp"
#include "socks_name_lookup.hpp"

namespace tplab {
namespace {

double msBetween(Clock::time_point start, Clock::time_point end) {
    return std::chrono::duration<double, std::milli>(end - start).count();
}

ConnectOutcome outcomeOf(int error) {
    switch (error) {
        case ECONNREFUSED:
            return ConnectOutcome::Refused;
        case ENETUNREACH:
            return ConnectOutcome::NetworkUnreachable;
        case EHOSTUNREACH:
            return ConnectOutcome::HostUnreachable;
        case ETIMEDOUT:
            return ConnectOutcome::TimedOut;
        default:
            return ConnectOutcome::Failed;
    }
}

// A handshake message is small: it goes out whole into an empty socket buffer, or not at all.
bool sendAll(int fd, const std::string& bytes) {
    if (bytes.empty()) {
        return true;
    }
    ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    return sent == static_cast<ssize_t>(bytes.size());
}

// Drops the `count` bytes a handshake step parsed (they were only peeked at).
void consume(int fd, std::size_t count) {
    char sink[512];
    while (count > 0) {
        ssize_t got = ::recv(fd, sink, std::min(count, sizeof(sink)), 0);
        if (got <= 0) {
            return;
        }
        count -= static_cast<std::size_t>(got);
    }
}

}  // namespace

// Negotiation bytes are read with MSG_PEEK and consumed only as far as a message goes, so the
// bytes a client (or a next proxy) sends after its last message stay in the socket for the
// relay: a server that speaks first, or a client that sends its request before our reply.
struct Session::Negotiation {
    struct Handler final : EventHandler {
        Session* session = nullptr;
        void (Session::*method)(std::uint32_t) = nullptr;
        void onEvents(std::uint32_t events) override { (session->*method)(events); }
        void onFailure(const std::exception& error) override { session->fail(error); }
    };

    explicit Negotiation(Session& owner) : loop(owner.host_.loop()) {
        clientEvents.session = lookupEvents.session = upstreamEvents.session = &owner;
        clientEvents.method = &Session::clientHandshakeEvents;
        lookupEvents.method = &Session::lookupEvents;
        upstreamEvents.method = &Session::upstreamHandshakeEvents;
    }
    ~Negotiation() {
        if (delayTimer) {
            loop.cancel(*delayTimer);
        }
        unwatch(clientFd);
        unwatch(upstreamFd);
        if (lookup) {
            loop.remove(lookup->eventFd());
        }
    }
    Negotiation(const Negotiation&) = delete;
    Negotiation& operator=(const Negotiation&) = delete;

    void unwatch(const Fd& fd) {
        if (fd) {
            loop.remove(fd.get());
        }
    }

    // Ends the client side before the relay starts: the protocol's error reply when the
    // request was complete (then FIN), a reset otherwise.
    void closeClient(ConnectOutcome outcome) {
        if (!clientFd) {
            return;
        }
        unwatch(clientFd);
        if (awaitingReply && sendAll(clientFd.get(), client->connectReply(outcome, Endpoint()))) {
            (void)sys::shutdownWrite(clientFd.get());
            clientFd.reset();
            return;
        }
        sys::resetAndClose(clientFd);
    }

    EventLoop& loop;
    std::unique_ptr<ClientHandshake> client;  // explicit modes
    Fd clientFd;                              // until the relay takes it
    bool awaitingReply = false;               // the request is in; the reply is ours to send
    std::string requestedHost;                // the name the client asked for, if any
    std::shared_ptr<NameLookup> lookup;
    std::unique_ptr<UpstreamHandshake> upstream;  // --upstream socks5://
    Fd upstreamFd;                                // until the relay takes it
    bool upstreamConnected = false;
    std::optional<EventLoop::TimerId> delayTimer;  // a refused authentication, answered late
    Handler clientEvents;
    Handler lookupEvents;
    Handler upstreamEvents;
};

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
    // --allow-client is decided here, at accept: a transparent client is reset below once its
    // `accepted` event is out; an explicit one gets its protocol's refusal at its request.
    const auto& access = host_.settings().access;
    clientRefused_ = access && access->checkClient(client_);
    (void)sys::setIntOption(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    auto handshake = host_.backend().clientHandshake();
    if (handshake || host_.settings().upstreamProxy) {
        negotiation_ = std::make_unique<Negotiation>(*this);
    }
    if (handshake) {
        // The destination is in the client's first bytes. The connect timeout bounds the wait
        // for them: the session is on the connecting list from now on.
        negotiation_->client = std::move(handshake);
        negotiation_->clientFd = std::move(client);
        if (auto added =
                host_.loop().add(fd, EPOLLIN | EPOLLRDHUP | EPOLLET, &negotiation_->clientEvents);
            !added) {
            negotiation_->clientFd.reset();
            refuse(CloseReason::ProxyError, "epoll_ctl(EPOLL_CTL_ADD, client fd " +
                                                std::to_string(fd) +
                                                "): " + errnoText(added.error()));
            return;
        }
        connectStarted_ = host_.loop().now();
        host_.connecting().pushBack(*this);
        return;
    }
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
    if (clientRefused_) {
        refuseBy(*access->checkClient(client_));
        return;
    }
    if (!lookup.destination) {
        refuse(lookup.notRedirected ? CloseReason::NotRedirected : CloseReason::LookupFailed,
               lookup.failure);
        return;
    }
    destination_ = lookup.destination->unmapped();
    admitDestination();
}

void Session::admitDestination() {
    // With --spoof-source an upstream takes the client's address and a port of the gateway's
    // choosing, which a real client connection may use too: then the pair says nothing. The
    // check is skipped when --mark exempts our upstreams from interception anyway
    // (docs/full-transparency.md, "Port collisions").
    const UpstreamOptions& upstream = host_.settings().upstream;
    bool pairIsAmbiguous = upstream.spoofSource && upstream.mark;
    if (!pairIsAmbiguous && host_.loopGuard().isOwnUpstream(client_, destination_)) {
        refuse(CloseReason::LoopRefused,
               "client " + client_.toString() +
                   " is this proxy's own upstream connection, "
                   "intercepted again (exempt it with --mark)",
               ConnectOutcome::NotAllowed);
        return;
    }
    if (host_.loopGuard().isOwnListener(destination_)) {
        refuse(CloseReason::LoopRefused,
               "original destination " + destination_.toString() +
                   " is this proxy's own listener "
                   "(the connection reached it without interception)",
               ConnectOutcome::NotAllowed);
        return;
    }
    // After name resolution, on the address itself: 127.1, 2130706433 and a name that
    // resolves to 127.0.0.1 are all 127.0.0.1 here.
    if (const auto& access = host_.settings().access) {
        if (auto refusal = access->checkDestination(destination_)) {
            refuseBy(*refusal);
            return;
        }
    }
    connectUpstream();
}

void Session::refuseBy(const Refusal& refusal) {
    refuse(CloseReason::NotAllowed, refusal.detail, ConnectOutcome::NotAllowed, refusal.rule);
}

void Session::connectUpstream() {
    connectStarted_ = host_.loop().now();
    connectingHook.unlink();  // a negotiating session goes to the back, with a fresh start
    if (const auto& proxy = host_.settings().upstreamProxy) {
        negotiation_->upstream = proxy->start(destination_);
    }
    openUpstream();
}

const Endpoint& Session::connectTarget() const noexcept {
    const auto& proxy = host_.settings().upstreamProxy;
    return proxy ? proxy->server() : destination_;
}

void Session::retryUpstream() {
    openUpstream();  // stays where it is on the connecting list: oldest first, for the sweep
}

void Session::openUpstream() {
    UpstreamFailure failure;
    const Endpoint& target = connectTarget();
    auto socket =
        openUpstreamSocket(SOCK_STREAM, client_, target, host_.settings().upstream, failure);
    if (!socket && (failure.error == EMFILE || failure.error == ENFILE)) {
        // Waiting costs this client a little time; refusing would cost it the connection. The
        // connect timeout still applies: the session waits on the connecting list.
        awaitingFd_ = true;
        if (!connectingHook.linked()) {
            host_.connecting().pushBack(*this);
        }
        host_.shortOfFileDescriptors(failure.error);
        return;
    }
    awaitingFd_ = false;
    if (!socket) {
        refuse(CloseReason::ConnectFailed, failure.call + ": " + errnoText(failure.error));
        return;
    }
    const int fd = socket.value().get();
    auto status = sys::connectTo(fd, target);
    // The source port is chosen by connect() itself. Record it now: if rules intercept this very
    // connection again, its SYN reaches a listener (maybe another worker's) before the connect
    // completes.
    if (auto local = sys::localAddress(fd); local && local.value().port() != 0) {
        upstreamLocal_ = local.value();
        host_.loopGuard().upstreamOpened(upstreamLocal_, target);
    }
    if (!status && status.error() != EINPROGRESS) {
        connectFailed(status.error());
        return;
    }
    Status added;
    if (negotiation_ && negotiation_->upstream) {
        // The next proxy's handshake comes first; the relay gets the socket afterwards.
        negotiation_->upstreamFd = std::move(socket.value());
        added = host_.loop().add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 &negotiation_->upstreamEvents);
        if (!added) {
            negotiation_->upstreamFd.reset();
        }
    } else {
        added = relay_.attachUpstream(std::move(socket.value()));
    }
    if (!added) {
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
        host_.events().write(connectedEvent(id_, upstreamLocal_, connectTarget(),
                                            msBetween(connectStarted_, Clock::now())));
    }
    // The first bytes the server (past any next proxy) reads: who the client is, and whom it
    // asked for. A fresh connection's send buffer always has room for them.
    if (const auto& version = host_.settings().sendProxy;
        version &&
        !sendAll(relay_.upstreamFd(), proxyProtocolHeader(*version, client_, destination_))) {
        refuse(CloseReason::UpstreamReset, "the PROXY protocol header could not be sent to " +
                                               connectTarget().toString() + ": " +
                                               errnoText(errno));
        return;
    }
    if (negotiation_) {
        if (Fd& client = negotiation_->clientFd) {
            // Explicit proxy: the success reply names the address the upstream socket bound.
            const int fd = client.get();
            negotiation_->unwatch(client);
            if (!sendAll(fd, negotiation_->client->connectReply(ConnectOutcome::Succeeded,
                                                                upstreamLocal_))) {
                refuse(CloseReason::ClientReset, "client: the reply could not be sent");
                return;
            }
            if (auto added = relay_.attachClient(std::move(client)); !added) {
                refuse(CloseReason::ProxyError, "epoll_ctl(EPOLL_CTL_ADD, client fd " +
                                                    std::to_string(fd) +
                                                    "): " + errnoText(added.error()));
                return;
            }
        }
        negotiation_.reset();  // a relaying session keeps nothing of it
    }
    relaying_ = true;
    relay_.start();
}

void Session::connectFailed(int error) {
    CloseReason reason = error == ECONNREFUSED ? CloseReason::ConnectRefused
                         : error == ETIMEDOUT  ? CloseReason::ConnectTimeout
                                               : CloseReason::ConnectFailed;
    refuse(reason, "connect(" + connectTarget().toString() + "): " + errnoText(error),
           outcomeOf(error));
}

void Session::clientHandshakeEvents(std::uint32_t events) {
    if (!finished_ && negotiation_ && negotiation_->clientFd && !negotiation_->awaitingReply) {
        readClientHandshake(events);
    }
}

void Session::readClientHandshake(std::uint32_t events) {
    Negotiation& n = *negotiation_;
    const int fd = n.clientFd.get();
    char buffer[8192 + 1];
    const std::size_t limit = std::min(n.client->maxMessage(), sizeof(buffer) - 1);
    for (;;) {
        ssize_t got = ::recv(fd, buffer, limit + 1, MSG_PEEK);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                refuse(CloseReason::ClientReset, "client, in the handshake: " + errnoText(errno));
            }
            return;
        }
        if (got == 0) {
            refuse(CloseReason::HandshakeFailed, "client closed the connection in the handshake");
            return;
        }
        auto size = static_cast<std::size_t>(got);
        HandshakeStep step =
            n.client->onClientBytes(std::string_view(buffer, std::min(size, limit)));
        if (step.auth != HandshakeStep::Auth::None && !throttleAuthentication(step)) {
            return;  // the refusal goes out later (AuthThrottle::kDelay)
        }
        switch (step.status) {
            case HandshakeStep::Status::NeedMore:
                if (size > limit) {  // a parser fails before its limit; a guard all the same
                    refuse(CloseReason::HandshakeFailed,
                           "handshake message longer than " + std::to_string(limit) + " bytes");
                } else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                    // The client shut down or reset: the rest never comes. MSG_PEEK still
                    // returns the bytes queued before a RST, and EPOLLET no new edge, so waiting
                    // would hold the slot until the connect timeout.
                    int error = sys::pendingError(fd);
                    refuse(error != 0 ? CloseReason::ClientReset : CloseReason::HandshakeFailed,
                           "client " + (error != 0 ? errnoText(error) : std::string("closed")) +
                               " after " + std::to_string(size) +
                               " byte(s) of an incomplete handshake message");
                }
                return;  // the rest comes with the next edge
            case HandshakeStep::Status::Reply:
                consume(fd, step.consumed);
                if (!sendAll(fd, step.reply)) {
                    refuse(CloseReason::ClientReset, "client: the reply could not be sent");
                    return;
                }
                continue;
            case HandshakeStep::Status::Fail:
                failHandshake(step);
                return;
            case HandshakeStep::Status::Done:
                consume(fd, step.consumed);
                n.awaitingReply = true;
                requestReceived(std::move(step.request));
                return;
        }
    }
}

void Session::failHandshake(const HandshakeStep& step) {
    Negotiation& n = *negotiation_;
    const int fd = n.clientFd.get();
    consume(fd, step.consumed);
    n.unwatch(n.clientFd);
    if (sendAll(fd, step.reply)) {
        (void)sys::shutdownWrite(fd);
    }
    n.clientFd.reset();
    refuse(CloseReason::HandshakeFailed, step.failure);
}

// Counts a username/password decision for the client's address: a locked-out address is
// refused whatever it sent, and from the fourth failure on the refusal is answered late.
// False when the step's refusal was put off (the session goes on from a timer).
bool Session::throttleAuthentication(HandshakeStep& step) {
    if (clientRefused_ && step.auth == HandshakeStep::Auth::Accepted) {
        // A client --allow-client refuses learns nothing from its guesses: every password fails.
        step = negotiation_->client->refuseAuthentication(
            step, client_.addressString() + " is not an allowed client (--allow-client)");
    }
    AuthThrottle& throttle = host_.authThrottle();
    auto now = Clock::now();
    if (step.auth == HandshakeStep::Auth::Accepted) {
        if (!throttle.lockedOut(client_, now)) {
            throttle.succeeded(client_);
            return true;
        }
        step = negotiation_->client->refuseAuthentication(
            step, client_.addressString() + " is locked out after " +
                      std::to_string(AuthThrottle::kLockoutFailures) + " failures");
    }
    AuthThrottle::Failure failure = throttle.failed(client_, now);
    if (failure.lockoutStarted) {
        auto seconds = std::chrono::duration<double>(AuthThrottle::kLockout).count();
        log::warn(client_.addressString() + ": " + std::to_string(failure.failures) +
                  " failed authentications, locked out for " + log::formatSeconds(seconds) + " s");
        if (host_.events().enabled()) {
            host_.events().write(Json{{"event", "auth_lockout"},
                                      {"client", client_.addressString()},
                                      {"failures", failure.failures},
                                      {"lockout_s", seconds}});
        }
    }
    if (failure.delay <= Clock::duration::zero()) {
        return true;
    }
    Negotiation& n = *negotiation_;
    n.unwatch(n.clientFd);  // nothing more is read from it: it is refused
    n.delayTimer = host_.loop().runAfter(failure.delay, [this, step] {
        negotiation_->delayTimer.reset();
        failHandshake(step);
    });
    return false;
}

void Session::requestReceived(ProxyRequest request) {
    if (clientRefused_) {  // no name lookup, no connect for a client --allow-client refuses
        destination_ = request.address ? request.address->unmapped() : Endpoint();
        reportRequest(request.address ? "" : request.host);
        refuseBy(*host_.settings().access->checkClient(client_));
        return;
    }
    if (request.address) {
        destination_ = request.address->unmapped();
        reportRequest("");
        if (!finished_) {
            admitDestination();
        }
        return;
    }
    Negotiation& n = *negotiation_;
    n.requestedHost = request.host;
    std::string why;
    n.lookup = NameLookup::start(request.host, request.port, client_, why);
    if (n.lookup) {
        if (auto added = host_.loop().add(n.lookup->eventFd(), EPOLLIN, &n.lookupEvents); added) {
            return;
        }
        why = "epoll_ctl(EPOLL_CTL_ADD, lookup eventfd)";
        n.lookup.reset();
    }
    reportRequest(request.host);
    refuse(CloseReason::LookupFailed, why, ConnectOutcome::Failed);
}

void Session::lookupEvents(std::uint32_t /*events*/) {
    if (finished_ || !negotiation_ || !negotiation_->lookup || !negotiation_->lookup->finished()) {
        return;
    }
    Negotiation& n = *negotiation_;
    host_.loop().remove(n.lookup->eventFd());
    auto lookup = std::move(n.lookup);
    if (!lookup->address()) {
        reportRequest(n.requestedHost);
        refuse(CloseReason::LookupFailed, lookup->error(), ConnectOutcome::HostUnreachable);
        return;
    }
    destination_ = lookup->address()->unmapped();
    reportRequest(n.requestedHost);
    if (!finished_) {
        admitDestination();
    }
}

// The `accepted` event of an explicit proxy: the destination came from the client's request.
void Session::reportRequest(const std::string& host) {
    if (!host_.events().enabled()) {
        return;
    }
    DestinationLookup lookup;
    lookup.method = host_.backend().requestSource();
    if (destination_.family() != AF_UNSPEC) {
        lookup.destination = destination_;
    }
    auto local = sys::localAddress(negotiation_->clientFd.get());
    Json event = acceptedEvent(id_, host_.backend().name(), client_, listener_,
                               local ? local.value().unmapped() : listener_, lookup);
    if (!host.empty()) {
        event["requested_host"] = host;
    }
    host_.events().write(event);
}

void Session::upstreamHandshakeEvents(std::uint32_t events) {
    if (finished_ || !negotiation_ || !negotiation_->upstreamFd) {
        return;
    }
    Negotiation& n = *negotiation_;
    if (!n.upstreamConnected) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }
        int error = (events & (EPOLLERR | EPOLLHUP)) ? sys::pendingError(n.upstreamFd.get()) : 0;
        if (error != 0 || (events & EPOLLHUP)) {
            connectingHook.unlink();
            connectFailed(error != 0 ? error : ECONNRESET);
            return;
        }
        n.upstreamConnected = true;
        if (!sendAll(n.upstreamFd.get(), n.upstream->greeting())) {
            refuse(CloseReason::ConnectFailed, "next proxy: the greeting could not be sent");
            return;
        }
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        readUpstreamHandshake();
    }
}

void Session::readUpstreamHandshake() {
    Negotiation& n = *negotiation_;
    const int fd = n.upstreamFd.get();
    const std::string server = connectTarget().toString();
    char buffer[512];
    for (;;) {
        ssize_t got = ::recv(fd, buffer, sizeof(buffer), MSG_PEEK);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                refuse(CloseReason::ConnectFailed,
                       "next proxy " + server + ": " + errnoText(errno));
            }
            return;
        }
        if (got == 0) {
            refuse(CloseReason::ConnectFailed,
                   "next proxy " + server + " closed the connection in the handshake");
            return;
        }
        HandshakeStep step = n.upstream->onServerBytes(std::string_view(buffer, got));
        switch (step.status) {
            case HandshakeStep::Status::NeedMore:
                if (static_cast<std::size_t>(got) == sizeof(buffer)) {
                    refuse(CloseReason::ConnectFailed,
                           "next proxy " + server + ": reply longer than 512 bytes");
                }
                return;
            case HandshakeStep::Status::Reply:
                consume(fd, step.consumed);
                if (!sendAll(fd, step.reply)) {
                    refuse(CloseReason::ConnectFailed,
                           "next proxy " + server + ": the request could not be sent");
                    return;
                }
                continue;
            case HandshakeStep::Status::Fail:
                refuse(CloseReason::ConnectFailed, "next proxy " + server + ": " + step.failure);
                return;
            case HandshakeStep::Status::Done: {
                consume(fd, step.consumed);
                // The relay registers the socket anew; its EPOLLOUT reports the connect as
                // done (onUpstreamConnect), as for a direct upstream.
                n.unwatch(n.upstreamFd);
                n.upstream.reset();
                if (auto added = relay_.attachUpstream(std::move(n.upstreamFd)); !added) {
                    refuse(CloseReason::ProxyError, "epoll_ctl(EPOLL_CTL_ADD, upstream fd " +
                                                        std::to_string(fd) +
                                                        "): " + errnoText(added.error()));
                }
                return;
            }
        }
    }
}

void Session::connectTimedOut() {
    auto seconds = std::chrono::duration<double>(host_.settings().connectTimeout).count();
    if (negotiation_ && negotiation_->clientFd && !negotiation_->awaitingReply) {
        refuse(CloseReason::ConnectTimeout, "no complete " +
                                                std::string(host_.backend().requestSource()) +
                                                " within " + log::formatSeconds(seconds) + " s");
        return;
    }
    if (negotiation_ && negotiation_->lookup) {
        refuse(CloseReason::ConnectTimeout,
               "getaddrinfo(" + negotiation_->requestedHost + "): no answer within " +
                   log::formatSeconds(seconds) + " s",
               ConnectOutcome::HostUnreachable);
        return;
    }
    if (awaitingFd_) {
        refuse(CloseReason::ConnectFailed, "no file descriptor for the upstream socket within " +
                                               log::formatSeconds(seconds) + " s");
        return;
    }
    refuse(CloseReason::ConnectTimeout,
           "connect(" + connectTarget().toString() + "): no answer within " +
               log::formatSeconds(seconds) + " s",
           ConnectOutcome::TimedOut);
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
    negotiation_.reset();
    relay_.abort();
    finish(reason, "");
}

void Session::fail(const std::exception& error) {
    if (finished_) {  // the throw came after the `closed` event: nothing is left to close
        log::warn("connection " + std::to_string(id_) + ", after its end: " + error.what());
        return;
    }
    refuse(CloseReason::ProxyError, std::string("exception: ") + error.what());
}

// The client gets a RST: what it would have seen had there been nothing to connect to. An
// explicit proxy's client gets the protocol's error reply instead, once it has asked.
void Session::refuse(CloseReason reason, const std::string& detail, ConnectOutcome outcome,
                     std::string_view refusedBy) {
    if (negotiation_) {
        negotiation_->closeClient(outcome);
        negotiation_.reset();
    }
    relay_.abort();
    finish(reason, detail, refusedBy);
}

void Session::finish(CloseReason reason, const std::string& detail, std::string_view refusedBy) {
    if (finished_) {
        return;
    }
    finished_ = true;
    connectingHook.unlink();
    if (upstreamLocal_.family() != AF_UNSPEC) {
        host_.loopGuard().upstreamClosed(upstreamLocal_, connectTarget());
    }
    std::uint64_t toUpstream = relay_.bytesClientToUpstream();
    std::uint64_t toClient = relay_.bytesUpstreamToClient();
    if (log::enabled(log::Level::Debug)) {
        log::debug("connection " + std::to_string(id_) + " from " + client_.toString() +
                   " closed: " + std::string(toString(reason)) +
                   (detail.empty() ? "" : " (" + detail + ")"));
    }
    if (host_.events().enabled()) {
        Json event = closedEvent(id_, reason, toUpstream, toClient,
                                 msBetween(started_, Clock::now()), detail);
        if (!refusedBy.empty()) {
            event["refused_by"] = refusedBy;
        }
        host_.events().write(event);
    }
    host_.sessionClosed(*this, reason, toUpstream, toClient);
}

}  // namespace tplab
