// Parsing and naming capture points.
#include "capture_point.hpp"

#include <net/if.h>

#include <stdexcept>

namespace tplab {
namespace {

bool isNameChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '@';
}

void checkName(std::string_view name, std::string_view what, std::string_view whole) {
    for (char c : name) {
        if (!isNameChar(c)) {
            throw std::invalid_argument("'" + std::string(whole) + "': " + std::string(what) +
                                        " has a character that is not allowed: '" +
                                        std::string(1, c) + "'");
        }
    }
}

}  // namespace

CapturePoint CapturePoint::parse(std::string_view text) {
    CapturePoint point;
    auto colon = text.find(':');
    std::string_view ns = colon == std::string_view::npos ? "" : text.substr(0, colon);
    std::string_view iface = colon == std::string_view::npos ? text : text.substr(colon + 1);
    if (iface.empty()) {
        throw std::invalid_argument("'" + std::string(text) +
                                    "' names no interface (expected NS:IFACE)");
    }
    if (iface.size() >= IFNAMSIZ) {
        throw std::invalid_argument("'" + std::string(text) + "': interface names have at most " +
                                    std::to_string(IFNAMSIZ - 1) + " characters");
    }
    if (ns == "." || ns == "..") {
        throw std::invalid_argument("'" + std::string(text) + "': '" + std::string(ns) +
                                    "' is not a namespace name");
    }
    checkName(ns, "the namespace name", text);
    checkName(iface, "the interface name", text);
    point.netns = std::string(ns);
    point.interface = std::string(iface);
    return point;
}

std::string CapturePoint::label() const {
    return netns + ":" + interface;
}

std::string CapturePoint::fileName() const {
    return (netns.empty() ? std::string("host") : netns) + "-" + interface + ".pcap";
}

}  // namespace tplab
