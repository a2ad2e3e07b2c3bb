// getaddrinfo() on a detached thread, answered through an eventfd.
#include "socks_name_lookup.hpp"

#include <netdb.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "udp_flow_key.hpp"

namespace tplab {
namespace {

// The lookups in flight, in all and per client address (at most kMaxInFlight entries).
struct Slots {
    std::mutex mutex;
    int total = 0;
    std::unordered_map<UdpEndpointKey, int, UdpKeyHash> perClient;
};

Slots& slots() {
    static Slots instance;
    return instance;
}

// Empty when a slot was taken, else why not.
std::string takeSlot(const Endpoint& client) {
    Slots& s = slots();
    std::lock_guard lock(s.mutex);
    if (s.total >= NameLookup::kMaxInFlight) {
        return std::to_string(NameLookup::kMaxInFlight) + " name lookups already in flight";
    }
    int& mine = s.perClient[UdpEndpointKey::from(client).withoutPort()];
    if (mine >= NameLookup::kMaxInFlightPerClient) {
        return client.addressString() + " already has " +
               std::to_string(NameLookup::kMaxInFlightPerClient) + " name lookups in flight";
    }
    ++mine;
    ++s.total;
    return "";
}

void giveSlot(const Endpoint& client) {
    Slots& s = slots();
    std::lock_guard lock(s.mutex);
    auto it = s.perClient.find(UdpEndpointKey::from(client).withoutPort());
    if (it != s.perClient.end() && --it->second <= 0) {
        s.perClient.erase(it);
    }
    --s.total;
}

}  // namespace

std::shared_ptr<NameLookup> NameLookup::start(const std::string& host, std::uint16_t port,
                                              const Endpoint& client, std::string& why) {
    why = takeSlot(client);
    if (!why.empty()) {
        return nullptr;
    }
    Fd done(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!done) {
        giveSlot(client);
        why = "eventfd: " + std::system_category().message(errno);
        return nullptr;
    }
    auto lookup = std::make_shared<NameLookup>(std::move(done));
    try {
        std::thread([lookup, host, port, client] { lookup->run(host, port, client); }).detach();
    } catch (const std::system_error& e) {
        giveSlot(client);
        why = std::string("no thread for the lookup: ") + e.what();
        return nullptr;
    }
    return lookup;
}

void NameLookup::run(const std::string& host, std::uint16_t port, const Endpoint& client) {
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
    giveSlot(client);
}

}  // namespace tplab
