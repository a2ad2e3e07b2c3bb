// Keeps GatewayAddresses current: reads every address of this network namespace at start
// (RTM_GETADDR dump over NETLINK_ROUTE), then reads them again whenever the kernel announces
// a change (RTM_NEWADDR / RTM_DELADDR on the address multicast groups).
#pragma once

#include <cstdint>

#include "access_policy.hpp"
#include "event_loop.hpp"
#include "fd.hpp"

namespace tplab {

class GatewayAddressWatcher final : private EventHandler {
  public:
    // Reads the addresses now and watches for changes on `loop` (the proxy's main loop).
    // Throws std::system_error naming the failed call.
    GatewayAddressWatcher(EventLoop& loop, GatewayAddresses& addresses);
    ~GatewayAddressWatcher() override;
    GatewayAddressWatcher(const GatewayAddressWatcher&) = delete;
    GatewayAddressWatcher& operator=(const GatewayAddressWatcher&) = delete;

  private:
    void onEvents(std::uint32_t events) override;

    EventLoop& loop_;
    GatewayAddresses& addresses_;
    Fd notifications_;
};

// One RTM_GETADDR dump: every local address of the namespace and every IPv4 broadcast address.
// Returns an errno on failure.
Result<std::vector<GatewayAddresses::Address>> readGatewayAddresses();

}  // namespace tplab
