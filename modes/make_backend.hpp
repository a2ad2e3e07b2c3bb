// The one place that maps a mode name to a backend.
#pragma once

#include <array>
#include <memory>
#include <string_view>

#include "backend.hpp"
#include "socket_ops.hpp"

namespace tplab {

inline constexpr std::array<std::string_view, 2> kModeNames = {"redirect", "tproxy"};

// nullptr for an unknown name.
std::unique_ptr<Backend> makeBackend(std::string_view mode, SocketApi& api);

}  // namespace tplab
