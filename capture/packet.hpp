// One captured packet reduced to what the report needs: addresses, ports, TCP flags, sizes, and
// the first bytes of its payload (enough for an explicit proxy's handshake, never the whole body).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "endpoint.hpp"

namespace tplab {

enum class Transport { Tcp, Udp, Icmp, Other };

inline constexpr std::size_t kPayloadHeadBytes = 64;

namespace tcp_flag {
inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
}  // namespace tcp_flag

struct Packet {
    double time = 0;  // seconds since the epoch, microsecond precision
    Transport transport = Transport::Other;
    Endpoint source;  // port 0 unless TCP or UDP
    Endpoint destination;
    std::uint8_t tcpFlags = 0;
    std::uint32_t sequence = 0;
    std::size_t payloadBytes = 0;
    // The first kPayloadHeadBytes of the TCP or UDP payload, as far as the capture holds them.
    std::string payloadHead;

    [[nodiscard]] bool has(std::uint8_t flag) const noexcept { return (tcpFlags & flag) != 0; }
};

// "SYN", "SYN,ACK", "PSH,ACK", "FIN,ACK", "RST"...
std::string tcpFlagsText(std::uint8_t flags);

// Parses an IPv4 or IPv6 packet behind the given link layer (DLT_EN10MB, DLT_LINUX_SLL,
// DLT_LINUX_SLL2, DLT_RAW). Returns nothing for what is not IP (ARP, say) or is truncated.
std::optional<Packet> parsePacket(int linkType, const std::uint8_t* data, std::size_t length,
                                  double time);

// Every IP packet of a .pcap file, in order. Throws std::runtime_error naming the file.
std::vector<Packet> readPcapFile(const std::string& path);

}  // namespace tplab
