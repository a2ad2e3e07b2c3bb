// getaddrinfo() on a detached thread, answered through an eventfd.
#include "socks_name_lookup.hpp"

#include <netdb.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <system_error>
#include <thread>

namespace tplab {
namespace {

std::atomic<int> inFlight{0};

}  // namespace

std::shared_ptr<NameLookup> NameLookup::start(const std::string& host, std::uint16_t port,
                                              std::string& why) {
    if (inFlight.fetch_add(1) >= kMaxInFlight) {
        inFlight.fetch_sub(1);
        why = std::to_string(kMaxInFlight) + " name lookups already in flight";
        return nullptr;
    }
    Fd done(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!done) {
        inFlight.fetch_sub(1);
        why = "eventfd: " + std::system_category().message(errno);
        return nullptr;
    }
    auto lookup = std::make_shared<NameLookup>(std::move(done));
    try {
        std::thread([lookup, host, port] { lookup->run(host, port); }).detach();
    } catch (const std::system_error& e) {
        inFlight.fetch_sub(1);
        why = std::string("no thread for the lookup: ") + e.what();
        return nullptr;
    }
    return lookup;
}

void NameLookup::run(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* results = nullptr;
    int status = ::getaddrinfo(host.c_str(), nullptr, &hints, &results);
    if (status != 0) {
        error_ = "getaddrinfo(" + host + "): " +
                 (status == EAI_SYSTEM ? std::system_category().message(errno)
                                       : std::string(::gai_strerror(status)));
    } else {
        for (addrinfo* at = results; at != nullptr; at = at->ai_next) {
            if (at->ai_family == AF_INET || at->ai_family == AF_INET6) {
                address_ = Endpoint::fromSockaddr(at->ai_addr, at->ai_addrlen).withPort(port);
                break;
            }
        }
        ::freeaddrinfo(results);
        if (!address_) {
            error_ = "getaddrinfo(" + host + "): no IPv4 or IPv6 address";
        }
    }
    finished_.store(true, std::memory_order_release);
    std::uint64_t one = 1;
    (void)!::write(done_.get(), &one, sizeof(one));
    inFlight.fetch_sub(1);
}

}  // namespace tplab
