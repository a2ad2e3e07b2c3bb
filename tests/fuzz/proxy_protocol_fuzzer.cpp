// Fuzzes the PROXY protocol writer (--send-proxy) with any pair of endpoints a client can make
// it write: an explicit proxy's client picks the destination, either family, any port. Input:
// a version flag, then client and destination (family flag, 16 address bytes, port each).
#include <cstdint>

#include "handshake_driver.hpp"
#include "proxy_protocol.hpp"

using namespace tplab;
using namespace tplab::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput input(data, size);
    bool v2 = input.flag();
    Endpoint client = endpointFrom(input);
    Endpoint destination = endpointFrom(input);
    std::string header = proxyProtocolHeader(
        v2 ? ProxyProtocolVersion::V2 : ProxyProtocolVersion::V1, client, destination);
    if (!v2) {
        // proxy-protocol.txt section 2.1: one line of at most 107 bytes, CRLF at its end only.
        fuzzCheck(header.size() <= 107, "a v1 header fits 107 bytes");
        fuzzCheck(header.rfind("PROXY TCP", 0) == 0, "a v1 header starts PROXY TCP");
        fuzzCheck(header.find("\r\n") == header.size() - 2, "a v1 header is one CRLF line");
        return 0;
    }
    static const std::string kSignature("\r\n\r\n\0\r\nQUIT\n", 12);
    fuzzCheck(header.size() >= 16 && header.compare(0, 12, kSignature) == 0, "the v2 signature");
    std::size_t length =
        static_cast<std::uint8_t>(header[14]) << 8 | static_cast<std::uint8_t>(header[15]);
    fuzzCheck(header.size() == 16 + length, "the v2 length field counts what follows");
    fuzzCheck(header[12] == '\x21', "v2, PROXY command");
    return 0;
}
