// Fuzzes the TPROXY backend's reading of a UDP datagram's original destination from its control
// messages (modes/tproxy_backend.cpp). The control buffer is framed as recvmsg() frames it: each
// cmsg_len fits the buffer, and a message cut short by MSG_CTRUNC keeps a cmsg_len that fits;
// levels, types, lengths and contents are the fuzzer's.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_input.hpp"
#include "tproxy_backend.hpp"

namespace {

// Levels and types the parser looks for, those it must skip, and anything else.
constexpr int kLevels[] = {SOL_IP, SOL_IPV6, SOL_SOCKET, IPPROTO_UDP};
constexpr int kTypes[] = {IP_ORIGDSTADDR, IPV6_ORIGDSTADDR, IP_PKTINFO,
                          IPV6_PKTINFO,   IP_TTL,           SO_TIMESTAMP};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    tplab::fuzz::FuzzInput input(data, size);
    std::size_t capacity = input.integral<std::uint16_t>() % 512;
    std::vector<std::uint8_t> control(capacity);  // exact size: an over-read is caught
    std::size_t used = 0;
    while (input.remaining() > 0 && used + CMSG_LEN(0) <= capacity) {
        std::uint8_t shape = input.integral<std::uint8_t>();
        std::size_t dataLength = input.integral<std::uint8_t>() % 64;
        cmsghdr header{};
        header.cmsg_level = (shape & 0x80) ? input.integral<int>() : kLevels[shape % 4];
        header.cmsg_type = (shape & 0x40) ? input.integral<int>() : kTypes[(shape >> 2) % 6];
        // MSG_CTRUNC: the kernel cuts the last message to the space left.
        std::size_t length = std::min(CMSG_LEN(dataLength), capacity - used);
        header.cmsg_len = length;
        std::memcpy(control.data() + used, &header, sizeof(header));
        for (std::size_t i = sizeof(header); i < length; ++i) {
            control[used + i] = input.integral<std::uint8_t>();
        }
        used += std::min(CMSG_SPACE(dataLength), capacity - used);
    }
    msghdr message{};
    message.msg_control = control.empty() ? nullptr : control.data();
    message.msg_controllen = used;
    tplab::SocketApi api;
    tplab::TproxyBackend backend(api);
    auto destination = backend.datagramDestination(message);
    if (destination) {
        // The family is whatever the message said (the kernel always says AF_INET(6)).
        (void)destination->toString();
    }
    return 0;
}
