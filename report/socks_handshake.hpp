// Decodes what a client sent an explicit proxy, for the report: the SOCKS5 greeting and request
// bytes, or an HTTP CONNECT line, in words ("SOCKS5 CONNECT 198.51.100.2:80").
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tplab {

// The first bytes a client sent on a connection; nullopt when they are not (yet) a complete
// SOCKS5 CONNECT or HTTP CONNECT request.
std::optional<std::string> describeProxyRequest(std::string_view clientBytes);

}  // namespace tplab
