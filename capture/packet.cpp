// A deliberately small decoder: Ethernet/SLL/raw, IPv4/IPv6 (with extension headers), TCP/UDP.
#include "packet.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "pcap_handle.hpp"

namespace tplab {
namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86DD;
constexpr std::uint16_t kEtherVlan = 0x8100;

std::uint16_t read16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
std::uint32_t read32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
           static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}

Endpoint makeIpv4(const std::uint8_t* address, std::uint16_t port) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    std::memcpy(&sin.sin_addr, address, 4);
    sin.sin_port = htons(port);
    return Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
}

Endpoint makeIpv6(const std::uint8_t* address, std::uint16_t port) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    std::memcpy(&sin6.sin6_addr, address, 16);
    sin6.sin6_port = htons(port);
    return Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&sin6), sizeof(sin6));
}

// Finds where the IP header starts and which version it is, past the link layer.
std::optional<std::pair<std::size_t, std::uint16_t>> skipLinkLayer(int linkType,
                                                                   const std::uint8_t* data,
                                                                   std::size_t length) {
    std::size_t offset = 0;
    std::uint16_t etherType = 0;
    switch (linkType) {
        case DLT_EN10MB:
            if (length < 14)
                return std::nullopt;
            etherType = read16(data + 12);
            offset = 14;
            while (etherType == kEtherVlan && length >= offset + 4) {
                etherType = read16(data + offset + 2);
                offset += 4;
            }
            break;
        case DLT_LINUX_SLL:
            if (length < 16)
                return std::nullopt;
            etherType = read16(data + 14);
            offset = 16;
            break;
        case DLT_LINUX_SLL2:
            if (length < 20)
                return std::nullopt;
            etherType = read16(data);
            offset = 20;
            break;
        case DLT_RAW:
        case DLT_IPV4:
        case DLT_IPV6:
            if (length < 1)
                return std::nullopt;
            etherType = (data[0] >> 4) == 6 ? kEtherIpv6 : kEtherIpv4;
            break;
        default:
            return std::nullopt;
    }
    if (etherType != kEtherIpv4 && etherType != kEtherIpv6) {
        return std::nullopt;
    }
    return std::make_pair(offset, etherType);
}

// payloadBytes counts what the capture holds (a snaplen cut shortens it), so it is safe to read.
void keepPayloadHead(Packet& packet, const std::uint8_t* payload) {
    std::size_t kept = std::min(packet.payloadBytes, kPayloadHeadBytes);
    packet.payloadHead.assign(reinterpret_cast<const char*>(payload), kept);
}

void parseTransport(Packet& packet, std::uint8_t protocol, const std::uint8_t* p,
                    std::size_t length, bool v6, const std::uint8_t* sourceAddress,
                    const std::uint8_t* destinationAddress) {
    std::uint16_t sourcePort = 0;
    std::uint16_t destinationPort = 0;
    if (protocol == IPPROTO_TCP && length >= 20) {
        packet.transport = Transport::Tcp;
        sourcePort = read16(p);
        destinationPort = read16(p + 2);
        packet.sequence = read32(p + 4);
        std::size_t headerLength = static_cast<std::size_t>(p[12] >> 4) * 4;
        packet.tcpFlags = p[13];
        packet.payloadBytes = length > headerLength ? length - headerLength : 0;
        if (packet.payloadBytes > 0) {
            keepPayloadHead(packet, p + headerLength);
        }
    } else if (protocol == IPPROTO_UDP && length >= 8) {
        packet.transport = Transport::Udp;
        sourcePort = read16(p);
        destinationPort = read16(p + 2);
        packet.payloadBytes = length - 8;
        keepPayloadHead(packet, p + 8);
    } else if (protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6) {
        packet.transport = Transport::Icmp;
        packet.payloadBytes = length;
    } else {
        packet.payloadBytes = length;
    }
    packet.source = v6 ? makeIpv6(sourceAddress, sourcePort) : makeIpv4(sourceAddress, sourcePort);
    packet.destination = v6 ? makeIpv6(destinationAddress, destinationPort)
                            : makeIpv4(destinationAddress, destinationPort);
}

}  // namespace

std::string tcpFlagsText(std::uint8_t flags) {
    static const std::pair<std::uint8_t, const char*> names[] = {{tcp_flag::kSyn, "SYN"},
                                                                 {tcp_flag::kFin, "FIN"},
                                                                 {tcp_flag::kRst, "RST"},
                                                                 {tcp_flag::kPsh, "PSH"},
                                                                 {tcp_flag::kAck, "ACK"}};
    std::string text;
    for (const auto& [bit, name] : names) {
        if (flags & bit) {
            text += (text.empty() ? "" : ",") + std::string(name);
        }
    }
    return text.empty() ? "none" : text;
}

std::optional<Packet> parsePacket(int linkType, const std::uint8_t* data, std::size_t length,
                                  double time) {
    auto link = skipLinkLayer(linkType, data, length);
    if (!link) {
        return std::nullopt;
    }
    const std::uint8_t* ip = data + link->first;
    std::size_t available = length - link->first;
    Packet packet;
    packet.time = time;
    if (link->second == kEtherIpv4) {
        if (available < 20 || (ip[0] >> 4) != 4)
            return std::nullopt;
        std::size_t headerLength = static_cast<std::size_t>(ip[0] & 0x0F) * 4;
        std::size_t total = std::min<std::size_t>(read16(ip + 2), available);
        if (headerLength < 20 || total < headerLength)
            return std::nullopt;
        parseTransport(packet, ip[9], ip + headerLength, total - headerLength, false, ip + 12,
                       ip + 16);
        return packet;
    }
    if (available < 40 || (ip[0] >> 4) != 6)
        return std::nullopt;
    std::size_t total = std::min<std::size_t>(40 + read16(ip + 4), available);
    std::uint8_t next = ip[6];
    std::size_t offset = 40;
    // Hop-by-hop, routing, destination options and fragment headers sit before TCP/UDP.
    while ((next == 0 || next == 43 || next == 60 || next == 44) && offset + 8 <= total) {
        std::size_t extension = next == 44 ? 8 : (static_cast<std::size_t>(ip[offset + 1]) + 1) * 8;
        next = ip[offset];
        offset += extension;
    }
    if (offset > total)
        return std::nullopt;
    parseTransport(packet, next, ip + offset, total - offset, true, ip + 8, ip + 24);
    return packet;
}

std::vector<Packet> readPcapFile(const std::string& path) {
    char error[PCAP_ERRBUF_SIZE] = {};
    PcapHandle handle(pcap_open_offline(path.c_str(), error));
    if (!handle) {
        throw std::runtime_error("pcap_open_offline(" + path + "): " + error);
    }
    int linkType = pcap_datalink(handle.get());
    std::vector<Packet> packets;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(handle.get(), &header, &data) == 1) {
        double time =
            static_cast<double>(header->ts.tv_sec) + static_cast<double>(header->ts.tv_usec) / 1e6;
        if (auto packet = parsePacket(linkType, data, header->caplen, time)) {
            packets.push_back(*packet);
        }
    }
    return packets;
}

}  // namespace tplab
