// The one place that maps a mode name to a backend.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string_view>

#include "backend.hpp"
#include "socket_ops.hpp"
#include "socks5_protocol.hpp"

namespace tplab {

inline constexpr std::array<std::string_view, 4> kModeNames = {"redirect", "tproxy", "socks5",
                                                               "http-connect"};

// nullptr for an unknown name. `credentials` is for the explicit modes (socks5, http-connect).
std::unique_ptr<Backend> makeBackend(std::string_view mode, SocketApi& api,
                                     std::optional<Socks5Credentials> credentials = {});

}  // namespace tplab
