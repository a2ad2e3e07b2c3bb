// Fuzzes the packet decoder (capture/packet.cpp): the first byte picks a link type, the rest is
// the captured frame, truncated, malformed or oversized however the fuzzer likes.
#include <pcap/dlt.h>

#include <cstdint>
#include <vector>

#include "fuzz_input.hpp"
#include "packet.hpp"

namespace {

// Those the decoder knows, and a few it must reject (BSD loopback, a value from nowhere).
constexpr int kLinkTypes[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_IPV4,
                              DLT_IPV6,   DLT_NULL,      DLT_LOOP,       -1,      0x7fffffff};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    int linkType = kLinkTypes[data[0] % std::size(kLinkTypes)];
    // An exact-size heap copy, so that reading one byte past the frame is caught.
    std::vector<std::uint8_t> frame(data + 1, data + size);
    auto packet = tplab::parsePacket(linkType, frame.data(), frame.size(), 1.5);
    if (packet) {
        tplab::fuzz::fuzzCheck(packet->payloadBytes <= frame.size(),
                               "payload larger than the frame");
        tplab::fuzz::fuzzCheck(!tplab::tcpFlagsText(packet->tcpFlags).empty(), "empty flags text");
        tplab::fuzz::fuzzCheck(
            !packet->source.toString().empty() && !packet->destination.toString().empty(),
            "an address that does not print");
    }
    return 0;
}
