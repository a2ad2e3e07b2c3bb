// sk-lookup mode: a BPF program picks the proxy's listener for connections to the intercepted
// ports; no netfilter rule, no conntrack entry. The listener and the destination are TPROXY's:
// IP_TRANSPARENT sockets, and getsockname() of the accepted socket (docs/sk-lookup.md).
#pragma once

#include <memory>
#include <vector>

#include "backend.hpp"
#include "sk_lookup_program.hpp"
#include "socket_ops.hpp"
#include "tproxy_backend.hpp"

namespace tplab {

class SkLookupBackend final : public Backend {
  public:
    // prefixes: the destinations to steer; none means every destination (0.0.0.0/0, ::/0).
    SkLookupBackend(SocketApi& api, std::vector<SteeredPort> ports,
                    std::vector<SteeredPrefix> prefixes);

    [[nodiscard]] std::string_view name() const override { return "sk-lookup"; }
    // Loads and attaches the program on the first call (so constructing needs no privilege),
    // then opens the listener as TPROXY does and puts the first of each family into the
    // program's socket map; later ones are SO_REUSEPORT siblings the kernel picks among.
    Fd openListener(const Endpoint& address, const ListenerOptions& options) override;
    DestinationLookup recoverDestination(int acceptedFd, const Endpoint& client,
                                         const Endpoint& local) override;
    Fd openDatagramListener(const Endpoint& address, const ListenerOptions& options) override;
    std::optional<Endpoint> datagramDestination(const msghdr& message) override;

    // Null until the first listener is open.
    [[nodiscard]] const SkLookupProgram* program() const { return program_.get(); }

  private:
    void steerTo(int fd, const Endpoint& address, const ListenerOptions& options, bool udp);

    TproxyBackend sockets_;
    std::vector<SteeredPort> ports_;
    std::vector<SteeredPrefix> prefixes_;
    std::unique_ptr<SkLookupProgram> program_;
    bool filled_[4] = {};        // which slots hold a socket
    bool filledByIpv4_[4] = {};  // ... put there by an IPv4 socket (a dual-stack one yields)
};

}  // namespace tplab
