// The one place that maps a mode name to a backend.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "backend.hpp"
#include "sk_lookup_program.hpp"
#include "socket_ops.hpp"
#include "socks5_protocol.hpp"

namespace tplab {

inline constexpr std::array<std::string_view, 5> kModeNames = {"redirect", "tproxy", "sk-lookup",
                                                               "socks5", "http-connect"};

// What some modes need besides the socket calls.
struct BackendSettings {
    std::optional<Socks5Credentials> credentials;  // socks5, http-connect
    std::vector<SteeredPort> steeredPorts;         // sk-lookup: what its BPF program steers
    std::vector<SteeredPrefix> steeredPrefixes;    // ... and to which destinations (none: all)
};

// nullptr for an unknown name.
std::unique_ptr<Backend> makeBackend(std::string_view mode, SocketApi& api,
                                     BackendSettings settings = {});

}  // namespace tplab
