// REDIRECT/DNAT mode: the nat table rewrote the destination; conntrack remembers the original.
#pragma once

#include "backend.hpp"
#include "socket_ops.hpp"

namespace tplab {

class RedirectBackend final : public Backend {
  public:
    explicit RedirectBackend(SocketApi& api) : api_(api) {}

    [[nodiscard]] std::string_view name() const override { return "redirect"; }
    Fd openListener(const Endpoint& address, const ListenerOptions& options) override;
    DestinationLookup recoverDestination(int acceptedFd, const Endpoint& client,
                                         const Endpoint& local) override;
    Fd openDatagramListener(const Endpoint& address, const ListenerOptions& options) override;
    std::optional<Endpoint> datagramDestination(const msghdr& message) override;

  private:
    SocketApi& api_;
};

}  // namespace tplab
