#include "sk_lookup_backend.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "log.hpp"
#include "sk_lookup_links.hpp"

namespace tplab {

SkLookupBackend::SkLookupBackend(SocketApi& api, std::vector<SteeredPort> ports,
                                 std::vector<SteeredPrefix> prefixes)
    : sockets_(api),
      ports_(std::move(ports)),
      prefixes_(prefixes.empty() ? everyDestination() : std::move(prefixes)) {}

Fd SkLookupBackend::openListener(const Endpoint& address, const ListenerOptions& options) {
    Fd fd = sockets_.openListener(address, options);
    steerTo(fd.get(), address, options, /*udp=*/false);
    return fd;
}

Fd SkLookupBackend::openDatagramListener(const Endpoint& address, const ListenerOptions& options) {
    Fd fd = sockets_.openDatagramListener(address, options);
    steerTo(fd.get(), address, options, /*udp=*/true);
    return fd;
}

// An IPv4 socket takes the IPv4 slot; a dual-stack IPv6 one takes the IPv6 slot and, unless an
// IPv4 socket has it, the IPv4 slot too (the kernel lets such a socket answer for IPv4).
void SkLookupBackend::steerTo(int fd, const Endpoint& address, const ListenerOptions& options,
                              bool udp) {
    if (!program_) {
        // Two programs on one port: the first attached runs first and keeps the traffic, so the
        // second proxy would listen for nothing. Refuse, naming the first (bpftool-like).
        auto others = steeringLinksFor(ports_);
        // A link no process holds and nothing pins is being released: its proxy has just exited
        // and the kernel closes the fd in a deferred task. Give it a moment before refusing.
        for (int i = 0; i < 20 && !others.empty() && others.front().holders.empty() &&
                        others.front().pins.empty();
             ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            others = steeringLinksFor(ports_);
        }
        if (!others.empty()) {
            throw std::runtime_error("sk-lookup: " + describe(others.front()) +
                                     ": stop that proxy (or remove the pin) first, or steer "
                                     "other ports");
        }
        program_ = std::make_unique<SkLookupProgram>(ports_, prefixes_);
        std::string steered;
        for (const auto& port : ports_) {
            steered += std::string(steered.empty() ? "" : ", ") +
                       (port.protocol == IPPROTO_UDP ? "udp " : "tcp ") + std::to_string(port.port);
        }
        log::info(
            "sk-lookup mode: BPF program tplab_steer attached to this network namespace (link " +
            std::to_string(program_->linkId()) + ")");
        log::info(
            "sk-lookup mode: steering " + steered + " to " +
            (prefixes_ == everyDestination() ? "every destination" : describePrefixes(prefixes_)));
    }
    auto v4 = udp ? SteeringSlot::UdpV4 : SteeringSlot::TcpV4;
    auto v6 = udp ? SteeringSlot::UdpV6 : SteeringSlot::TcpV6;
    auto put = [&](SteeringSlot slot, bool byIpv4) {
        auto index = static_cast<std::size_t>(slot);
        if (filled_[index] && (filledByIpv4_[index] || !byIpv4)) {
            return;  // the first socket of a family stays: the rest are its reuseport siblings
        }
        program_->setSocket(slot, fd);
        filled_[index] = true;
        filledByIpv4_[index] = byIpv4;
    };
    if (address.family() == AF_INET) {
        put(v4, true);
        return;
    }
    put(v6, false);
    if (!options.ipv6Only) {
        put(v4, false);
    }
}

DestinationLookup SkLookupBackend::recoverDestination(int acceptedFd, const Endpoint& client,
                                                      const Endpoint& local) {
    return sockets_.recoverDestination(acceptedFd, client, local);
}

std::optional<Endpoint> SkLookupBackend::datagramDestination(const msghdr& message) {
    return sockets_.datagramDestination(message);
}

}  // namespace tplab
