// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that tells the
// server who the client is when the connection reaches it from the proxy's own address.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "endpoint.hpp"

namespace tplab {

enum class ProxyProtocolVersion { V1, V2 };

// "v1" or "v2"; nullopt for anything else.
std::optional<ProxyProtocolVersion> parseProxyProtocolVersion(std::string_view text);

// The header for a TCP connection from `client` to `destination`. v1 is one text line
// ("PROXY TCP4 192.0.2.2 198.51.100.2 40000 80\r\n"), v2 a binary block. When the two families
// differ (an explicit proxy's IPv4 client asking for an IPv6 server), the IPv4 address is written
// as IPv4-mapped IPv6 so that no information is lost.
std::string proxyProtocolHeader(ProxyProtocolVersion version, const Endpoint& client,
                                const Endpoint& destination);

}  // namespace tplab
