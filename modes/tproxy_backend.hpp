// TPROXY mode: nothing was rewritten; the accepted socket's own address is the destination.
#pragma once

#include "backend.hpp"
#include "socket_ops.hpp"

namespace tplab {

class TproxyBackend final : public Backend {
  public:
    explicit TproxyBackend(SocketApi& api) : api_(api) {}

    [[nodiscard]] std::string_view name() const override { return "tproxy"; }
    Fd openListener(const Endpoint& address, const ListenerOptions& options) override;
    DestinationLookup recoverDestination(int acceptedFd, const Endpoint& client,
                                         const Endpoint& local) override;
    Fd openDatagramListener(const Endpoint& address, const ListenerOptions& options) override;
    std::optional<Endpoint> datagramDestination(const msghdr& message) override;

  private:
    SocketApi& api_;
};

}  // namespace tplab
