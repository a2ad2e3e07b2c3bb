// The proxy core end to end on loopback, with a backend that "recovers" a fixed destination.
// Covers what every backend shares: relaying, refused upstreams, the loop guard, the connection
// limit, idle timeout and draining on shutdown.
#include "proxy_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <thread>

#include "listen_socket.hpp"
#include "loopback.hpp"
#include "proxy_workers.hpp"

namespace tplab {
namespace {

using namespace std::chrono_literals;

Endpoint loopbackAnyPort() {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&address), sizeof(address));
}

class FixedDestinationBackend : public Backend {
  public:
    explicit FixedDestinationBackend(SocketApi& api) : api_(api) {}
    std::string_view name() const override { return "fixed"; }
    Fd openListener(const Endpoint& address, const ListenerOptions& options) override {
        return openListeningSocket(api_, address, options, false);
    }
    DestinationLookup recoverDestination(int, const Endpoint&, const Endpoint&) override {
        if (throwOnLookup) {
            throw std::runtime_error("injected failure");
        }
        DestinationLookup lookup;
        lookup.method = "fixed";
        if (notRedirected) {
            lookup.notRedirected = true;
            lookup.failure = "test says: not redirected";
        } else {
            lookup.destination = destination;
        }
        return lookup;
    }
    Fd openDatagramListener(const Endpoint&, const ListenerOptions&) override {
        throw std::invalid_argument("the fixed test backend does not do UDP");
    }
    std::optional<Endpoint> datagramDestination(const msghdr&) override { return std::nullopt; }
    Endpoint destination;
    bool notRedirected = false;
    bool throwOnLookup = false;

  private:
    SocketApi& api_;
};

// A blocking echo server on a thread: echoes what each connection sends, closes at its EOF.
class EchoServer {
  public:
    EchoServer() : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        Endpoint any = loopbackAnyPort();
        ::bind(listener_.get(), any.sockaddrPtr(), any.length());
        ::listen(listener_.get(), 16);
        address_ = sys::localAddress(listener_.get()).value();
        thread_ = std::thread([this] { serve(); });
    }
    ~EchoServer() {
        ::shutdown(listener_.get(), SHUT_RDWR);
        thread_.join();
    }
    const Endpoint& address() const { return address_; }

  private:
    void serve() {
        while (true) {
            Fd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!connection) {
                return;
            }
            std::thread([fd = connection.release()] {
                Fd owned(fd);
                char buffer[4096];
                ssize_t n;
                while ((n = ::recv(owned.get(), buffer, sizeof(buffer), 0)) > 0) {
                    test::sendAll(owned.get(), std::string(buffer, static_cast<std::size_t>(n)));
                }
            }).detach();
        }
    }
    Fd listener_;
    Endpoint address_;
    std::thread thread_;
};

Fd connectBlocking(const Endpoint& to) {
    Fd fd(::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(fd.get(), to.sockaddrPtr(), to.length()) != 0) {
        return Fd();
    }
    return fd;
}

struct ProxyServerFixture : ::testing::Test {
    ProxyServerFixture() {
        char dir[] = "/tmp/tplab-server-test-XXXXXX";
        eventsPath = std::string(::mkdtemp(dir)) + "/events.jsonl";
        events = EventSink(eventsPath);
        options.listen = {loopbackAnyPort()};
    }
    ~ProxyServerFixture() override {
        ::unlink(eventsPath.c_str());
        ::rmdir(eventsPath.substr(0, eventsPath.rfind('/')).c_str());
    }
    void start() {
        server = std::make_unique<ProxyServer>(loop, backend, events, options);
        server->start();
        proxy = server->listeningAddresses().at(0);
    }
    // Runs the loop on this thread until `done` says so (checked every 5 ms) or `limit` passes.
    void runUntil(const std::function<bool()>& done, Clock::duration limit = 10s) {
        auto deadline = Clock::now() + limit;
        std::function<void()> check = [&] {
            if (done() || Clock::now() > deadline) {
                loop.stop();
                return;
            }
            loop.runAfter(5ms, check);
        };
        loop.runAfter(5ms, check);
        loop.run();
    }
    // Runs the loop while `client` runs on another thread.
    void runWithClient(const std::function<void()>& client) {
        std::atomic<bool> finished{false};
        std::thread thread([&] {
            client();
            finished = true;
        });
        runUntil([&] { return finished.load(); });
        thread.join();
    }
    // Connects through the proxy and returns what the client sees first (errno, 0 for EOF).
    int firstOutcomeOfAConnection() {
        int outcome = 0;
        runWithClient([&] {
            Fd client = connectBlocking(proxy);
            outcome = test::receiveOutcome(client.get(), 5000);
        });
        return outcome;
    }
    // Sends `text` through the proxy, half-closes, and returns everything that came back.
    std::string echoThroughProxy(const std::string& text) {
        std::string reply;
        runWithClient([&] {
            Fd client = connectBlocking(proxy);
            test::sendAll(client.get(), text);
            ::shutdown(client.get(), SHUT_WR);
            reply = test::receiveUntilEof(client.get());
        });
        return reply;
    }
    std::vector<Json> readEvents(const std::string& type) {
        events.flush();  // the sink writes from a thread of its own
        std::ifstream in(eventsPath);
        std::vector<Json> result;
        for (std::string line; std::getline(in, line);) {
            auto event = Json::parse(line);
            if (event["event"] == type) {
                result.push_back(event);
            }
        }
        return result;
    }

    EventLoop loop;
    SocketApi api;
    FixedDestinationBackend backend{api};
    std::string eventsPath;
    EventSink events;
    ProxyOptions options;
    std::unique_ptr<ProxyServer> server;
    Endpoint proxy;
};

TEST_F(ProxyServerFixture, RelaysToTheRecoveredDestinationAndReportsEachStep) {
    EchoServer echo;
    backend.destination = echo.address();
    start();
    std::string reply = echoThroughProxy("ping through the proxy");
    runUntil([&] { return server->stats().active == 0; });
    EXPECT_EQ(reply, "ping through the proxy");
    auto accepted = readEvents("accepted");
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["original_dst"], echo.address().toString());
    EXPECT_EQ(accepted[0]["mode"], "fixed");
    auto connected = readEvents("connected");
    ASSERT_EQ(connected.size(), 1u);
    EXPECT_EQ(connected[0]["upstream_peer"], echo.address().toString());
    auto closed = readEvents("closed");
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "normal");
    EXPECT_EQ(closed[0]["bytes_client_to_upstream"], 22);
    EXPECT_EQ(closed[0]["bytes_upstream_to_client"], 22);
}

TEST_F(ProxyServerFixture, RefusedUpstreamResetsTheClient) {
    {
        Fd placeholder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        Endpoint any = loopbackAnyPort();
        ::bind(placeholder.get(), any.sockaddrPtr(), any.length());
        backend.destination = sys::localAddress(placeholder.get()).value();
    }  // closed: nothing listens on that port any more
    start();
    int outcome = firstOutcomeOfAConnection();
    EXPECT_EQ(outcome, ECONNRESET) << "the client must see a reset, as it would without a proxy";
    auto closed = readEvents("closed");
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "connect_refused");
}

TEST_F(ProxyServerFixture, ConnectTimeoutResetsTheClient) {
    // A listener whose accept queue is full drops further SYNs: the connect never completes.
    Fd full(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    Endpoint any = loopbackAnyPort();
    ::bind(full.get(), any.sockaddrPtr(), any.length());
    ::listen(full.get(), 0);
    backend.destination = sys::localAddress(full.get()).value();
    Fd filler1 = connectBlocking(backend.destination);
    Fd filler2(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ::connect(filler2.get(), backend.destination.sockaddrPtr(), backend.destination.length());
    options.session.connectTimeout = 300ms;
    start();
    int outcome = firstOutcomeOfAConnection();
    EXPECT_EQ(outcome, ECONNRESET);
    auto closed = readEvents("closed");
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "connect_timeout");
}

TEST_F(ProxyServerFixture, ConnectionToItsOwnListenerIsRefusedAndServingGoesOn) {
    EchoServer echo;
    start();
    backend.destination = proxy;  // what SO_ORIGINAL_DST says for a connection never NATed
    int loopOutcome = firstOutcomeOfAConnection();
    EXPECT_EQ(loopOutcome, ECONNRESET);
    EXPECT_EQ(server->stats().accepted, 1u) << "the proxy must not have connected to itself";

    backend.destination = echo.address();
    std::string reply = echoThroughProxy("still serving");
    EXPECT_EQ(reply, "still serving");
    auto closed = readEvents("closed");
    ASSERT_GE(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "loop_refused");
}

// An exception on one connection's path (here the backend's lookup) closes that connection with
// an event; the worker goes on serving.
TEST_F(ProxyServerFixture, AnExceptionOnOneConnectionClosesItAndServingGoesOn) {
    EchoServer echo;
    backend.destination = echo.address();
    backend.throwOnLookup = true;
    start();
    EXPECT_EQ(firstOutcomeOfAConnection(), ECONNRESET);
    backend.throwOnLookup = false;
    EXPECT_EQ(echoThroughProxy("still serving"), "still serving");
    auto closed = readEvents("closed");
    ASSERT_EQ(closed.size(), 2u);
    EXPECT_EQ(closed[0]["reason"], "proxy_error");
    EXPECT_EQ(closed[0]["detail"], "exception: injected failure");
    EXPECT_EQ(closed[1]["reason"], "normal");
}

// A handler that throws: its owner decides (here: counts it); the default stops the loop.
TEST(EventLoopFailures, AThrowingHandlerIsToldAndTheLoopGoesOnOrStopsByDefault) {
    struct Throwing : EventHandler {
        int fd = ::eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
        int failures = 0;
        bool recover = true;
        EventLoop* loop = nullptr;
        ~Throwing() override { ::close(fd); }
        void onEvents(std::uint32_t) override {
            std::uint64_t count;
            (void)::read(fd, &count, sizeof(count));
            throw std::runtime_error("handler failed");
        }
        void onFailure(const std::exception& error) override {
            if (!recover) {
                EventHandler::onFailure(error);
            }
            ++failures;
            loop->stop();
        }
    };
    EventLoop loop;
    Throwing handler;
    handler.loop = &loop;
    ASSERT_TRUE(loop.add(handler.fd, EPOLLIN, &handler));
    EXPECT_NO_THROW(loop.run());
    EXPECT_EQ(handler.failures, 1);
    handler.recover = false;
    std::uint64_t one = 1;
    ASSERT_EQ(::write(handler.fd, &one, sizeof(one)), 8);
    EXPECT_THROW(loop.run(), std::runtime_error);
    loop.remove(handler.fd);
}

// A worker that dies must not leave its SO_REUSEPORT listener open with nobody accepting: every
// worker stops and run() throws, so `tplab proxy` exits non-zero (systemd restarts it).
TEST(ProxyWorkersFailures, AWorkerThatDiesStopsTheProxyWithAnError) {
    for (std::size_t count : {1u, 2u}) {
        SocketApi api;
        FixedDestinationBackend backend{api};
        EventSink events;
        ProxyOptions options;
        options.listen = {loopbackAnyPort()};
        ProxyWorkers workers(backend, events, options, count);
        workers.start();
        workers.workerLoop(count - 1).post([] { throw std::runtime_error("injected death"); });
        // Without the fix a second worker would run on: drain it after 10 s so the test ends.
        workers.mainLoop().runAfter(10s, [&] { workers.beginDrain(); });
        try {
            workers.run();
            ADD_FAILURE() << count << " worker(s): run() returned as if all was well";
        } catch (const std::runtime_error& error) {
            EXPECT_EQ(std::string(error.what()),
                      "worker " + std::to_string(count) + " of " + std::to_string(count) +
                          " stopped: injected death; the proxy stops with it");
        }
    }
}

TEST_F(ProxyServerFixture, NotRedirectedConnectionIsClosedWithItsReason) {
    backend.notRedirected = true;
    start();
    int outcome = firstOutcomeOfAConnection();
    EXPECT_EQ(outcome, ECONNRESET);
    auto accepted = readEvents("accepted");
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_TRUE(accepted[0]["original_dst"].is_null());
    auto closed = readEvents("closed");
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "not_redirected");
}

TEST_F(ProxyServerFixture, IdleConnectionIsResetAfterTheIdleTimeout) {
    EchoServer echo;
    backend.destination = echo.address();
    options.session.idleTimeout = 200ms;
    start();
    int outcome = 0;
    Clock::duration waited{};
    runWithClient([&] {
        Fd client = connectBlocking(proxy);
        auto begin = Clock::now();
        outcome = test::receiveOutcome(client.get(), 5000);
        waited = Clock::now() - begin;
    });
    EXPECT_EQ(outcome, ECONNRESET);
    EXPECT_GE(waited, 150ms);
    auto closed = readEvents("closed");
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "idle_timeout");
}

TEST_F(ProxyServerFixture, AtTheConnectionLimitAcceptWaitsForAFreeSlot) {
    EchoServer echo;
    backend.destination = echo.address();
    options.maxConnections = 1;
    start();
    Fd first;
    Fd second;
    runWithClient([&] {
        first = connectBlocking(proxy);
        test::sendAll(first.get(), "1");
        char byte;
        ::recv(first.get(), &byte, 1, 0);  // the first is relayed end to end
        second = connectBlocking(proxy);   // completes in the kernel backlog
    });
    runUntil([] { return false; }, 300ms);  // give the loop a chance it must not take
    EXPECT_EQ(server->stats().accepted, 1u);
    EXPECT_GE(server->stats().acceptPausedAtLimit, 1u);

    first.reset();
    runUntil([&] { return server->stats().accepted == 2; });
    EXPECT_EQ(server->stats().accepted, 2u) << "the second waited for the first to close";
    std::string reply;
    runWithClient([&] {
        test::sendAll(second.get(), "2");
        ::shutdown(second.get(), SHUT_WR);
        reply = test::receiveUntilEof(second.get());
    });
    EXPECT_EQ(reply, "2");
}

TEST_F(ProxyServerFixture, DrainStopsAcceptingButLetsOpenConnectionsFinish) {
    EchoServer echo;
    backend.destination = echo.address();
    start();
    std::string reply;
    std::atomic<bool> connectedOnce{false};
    std::atomic<bool> newConnectRefused{false};
    std::thread client([&] {
        Fd connection = connectBlocking(proxy);
        test::sendAll(connection.get(), "before");
        connectedOnce = true;
        std::this_thread::sleep_for(300ms);  // the drain starts meanwhile
        newConnectRefused = !connectBlocking(proxy);
        test::sendAll(connection.get(), " and after the stop signal");
        ::shutdown(connection.get(), SHUT_WR);
        reply = test::receiveUntilEof(connection.get());
    });
    std::function<void()> waitThenDrain = [&] {
        if (connectedOnce) {
            loop.runAfter(50ms, [&] { server->beginDrain(); });
        } else {
            loop.runAfter(5ms, waitThenDrain);
        }
    };
    loop.runAfter(5ms, waitThenDrain);
    loop.runAfter(10s, [&] { loop.stop(); });  // safety net
    auto begin = Clock::now();
    loop.run();  // returns when the drain is complete
    client.join();
    EXPECT_LT(Clock::now() - begin, 5s) << "the loop stopped by itself when the drain completed";
    EXPECT_TRUE(newConnectRefused);
    EXPECT_EQ(reply, "before and after the stop signal");
    EXPECT_EQ(server->stats().closed[static_cast<std::size_t>(CloseReason::Normal)], 1u);
}

TEST_F(ProxyServerFixture, DrainTimeoutResetsWhatIsStillOpen) {
    EchoServer echo;
    backend.destination = echo.address();
    options.drainTimeout = 200ms;
    start();
    Fd connection;
    runWithClient([&] {
        connection = connectBlocking(proxy);
        test::sendAll(connection.get(), "x");
        char byte;
        ::recv(connection.get(), &byte, 1, 0);
    });
    server->beginDrain();
    loop.runAfter(10s, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(test::receiveOutcome(connection.get(), 1000), ECONNRESET);
    EXPECT_EQ(server->stats().closed[static_cast<std::size_t>(CloseReason::DrainTimeout)], 1u);
}

}  // namespace
}  // namespace tplab
