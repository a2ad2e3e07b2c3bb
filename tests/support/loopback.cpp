// Loopback sockets and a bounded event-loop thread for the unit tests.
#include "loopback.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>

namespace tplab::test {

TcpPair makeLoopbackPair() {
    Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener.get(), 1) != 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        throw std::runtime_error("loopback listener failed");
    }
    Fd testEnd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(testEnd.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) {
        throw std::runtime_error("loopback connect failed");
    }
    Fd relayEnd(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!relayEnd) {
        throw std::runtime_error("loopback accept failed");
    }
    return {std::move(testEnd), std::move(relayEnd)};
}

LoopThread::LoopThread(EventLoop& loop, std::chrono::milliseconds limit)
    : loop_(loop), deadline_(std::chrono::steady_clock::now() + limit) {
    loop_.runAfter(std::chrono::milliseconds(5), [this] { poll(); });
    thread_ = std::thread([this] { loop_.run(); });
}

LoopThread::~LoopThread() {
    stop();
    join();
}

void LoopThread::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void LoopThread::poll() {
    if (stopRequested_ || std::chrono::steady_clock::now() > deadline_) {
        loop_.stop();
        return;
    }
    loop_.runAfter(std::chrono::milliseconds(5), [this] { poll(); });
}

void sendAll(int fd, const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            throw std::runtime_error("send failed");
        }
        sent += static_cast<std::size_t>(n);
    }
}

std::string receiveUntilEof(int fd) {
    std::string result;
    char buffer[65536];
    while (true) {
        ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return result;
        }
        result.append(buffer, static_cast<std::size_t>(n));
    }
}

int receiveOutcome(int fd, int timeoutMs) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeoutMs) <= 0) {
        return ETIMEDOUT;
    }
    char byte;
    ssize_t n = ::recv(fd, &byte, 1, 0);
    if (n < 0) {
        return errno;
    }
    return n == 0 ? 0 : -1;
}

void setLingerReset(int fd) {
    linger option{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof(option));
}

}  // namespace tplab::test
