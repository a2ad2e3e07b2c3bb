// A place to capture: an interface inside a named network namespace, written "NS:IFACE".
#pragma once

#include <string>
#include <string_view>

namespace tplab {

struct CapturePoint {
    std::string netns;  // a name under /run/netns, or "" for the namespace tplab runs in
    std::string interface;

    // "gateway:veth-c", or ":eth0" / "eth0" for the current namespace. Throws
    // std::invalid_argument naming what is wrong.
    static CapturePoint parse(std::string_view text);

    // "gateway:veth-c"
    [[nodiscard]] std::string label() const;
    // "gateway-veth-c.pcap": one file per point, named after it.
    [[nodiscard]] std::string fileName() const;
};

}  // namespace tplab
