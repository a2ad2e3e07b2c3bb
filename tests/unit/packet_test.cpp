// The packet decoder on hand-built frames: Ethernet/IPv4/TCP, IPv6 with an extension header,
// VLAN, Linux cooked capture, and what it must refuse.
#include "packet.hpp"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <vector>

namespace tplab {
namespace {

std::vector<std::uint8_t> ethernet(std::uint16_t etherType) {
    std::vector<std::uint8_t> frame(12, 0xAA);
    frame.push_back(static_cast<std::uint8_t>(etherType >> 8));
    frame.push_back(static_cast<std::uint8_t>(etherType & 0xFF));
    return frame;
}

void appendTcp(std::vector<std::uint8_t>& frame, std::uint16_t sport, std::uint16_t dport,
               std::uint8_t flags, std::size_t payload) {
    std::uint8_t header[20] = {static_cast<std::uint8_t>(sport >> 8),
                               static_cast<std::uint8_t>(sport),
                               static_cast<std::uint8_t>(dport >> 8),
                               static_cast<std::uint8_t>(dport),
                               0,
                               0,
                               0,
                               42,
                               0,
                               0,
                               0,
                               0,
                               0x50,
                               flags,
                               0xFF,
                               0xFF,
                               0,
                               0,
                               0,
                               0};
    frame.insert(frame.end(), header, header + 20);
    frame.insert(frame.end(), payload, 'x');
}

std::vector<std::uint8_t> ipv4Tcp(std::uint8_t flags, std::size_t payload) {
    auto frame = ethernet(0x0800);
    std::uint16_t total = static_cast<std::uint16_t>(20 + 20 + payload);
    std::uint8_t header[20] = {0x45,
                               0,
                               static_cast<std::uint8_t>(total >> 8),
                               static_cast<std::uint8_t>(total),
                               0,
                               0,
                               0x40,
                               0,
                               64,
                               6,
                               0,
                               0,
                               192,
                               0,
                               2,
                               2,
                               198,
                               51,
                               100,
                               2};
    frame.insert(frame.end(), header, header + 20);
    appendTcp(frame, 40000, 80, flags, payload);
    return frame;
}

std::vector<std::uint8_t> ipv6TcpWithHopByHop(std::uint8_t flags) {
    auto frame = ethernet(0x86DD);
    std::uint16_t payloadLength = 8 + 20;
    std::uint8_t header[40] = {0x60,
                               0,
                               0,
                               0,
                               static_cast<std::uint8_t>(payloadLength >> 8),
                               static_cast<std::uint8_t>(payloadLength),
                               0 /* hop-by-hop */,
                               64,
                               0x20,
                               0x01,
                               0x0d,
                               0xb8,
                               0,
                               1,
                               0,
                               0,
                               0,
                               0,
                               0,
                               0,
                               0,
                               0,
                               0,
                               2,
                               0x20,
                               0x01,
                               0x0d,
                               0xb8,
                               0,
                               2,
                               0,
                               0,
                               0,
                               0,
                               0,
                               0,
                               0,
                               0,
                               0,
                               2};
    frame.insert(frame.end(), header, header + 40);
    std::uint8_t hopByHop[8] = {6 /* next: TCP */, 0, 1, 4, 0, 0, 0, 0};
    frame.insert(frame.end(), hopByHop, hopByHop + 8);
    appendTcp(frame, 40001, 443, flags, 0);
    return frame;
}

TEST(Packet, DecodesEthernetIpv4Tcp) {
    auto frame = ipv4Tcp(tcp_flag::kSyn, 0);
    auto packet = parsePacket(DLT_EN10MB, frame.data(), frame.size(), 1.5);
    ASSERT_TRUE(packet.has_value());
    EXPECT_EQ(packet->transport, Transport::Tcp);
    EXPECT_EQ(packet->source.toString(), "192.0.2.2:40000");
    EXPECT_EQ(packet->destination.toString(), "198.51.100.2:80");
    EXPECT_TRUE(packet->has(tcp_flag::kSyn));
    EXPECT_FALSE(packet->has(tcp_flag::kAck));
    EXPECT_EQ(packet->sequence, 42u);
    EXPECT_EQ(packet->payloadBytes, 0u);
    EXPECT_DOUBLE_EQ(packet->time, 1.5);
}

TEST(Packet, CountsTcpPayloadBytes) {
    auto frame = ipv4Tcp(tcp_flag::kPsh | tcp_flag::kAck, 77);
    auto packet = parsePacket(DLT_EN10MB, frame.data(), frame.size(), 0);
    ASSERT_TRUE(packet.has_value());
    EXPECT_EQ(packet->payloadBytes, 77u);
    EXPECT_EQ(tcpFlagsText(packet->tcpFlags), "PSH,ACK");
}

TEST(Packet, SkipsIpv6ExtensionHeadersToReachTcp) {
    auto frame = ipv6TcpWithHopByHop(tcp_flag::kSyn | tcp_flag::kAck);
    auto packet = parsePacket(DLT_EN10MB, frame.data(), frame.size(), 0);
    ASSERT_TRUE(packet.has_value());
    EXPECT_EQ(packet->transport, Transport::Tcp);
    EXPECT_EQ(packet->source.toString(), "[2001:db8:1::2]:40001");
    EXPECT_EQ(packet->destination.toString(), "[2001:db8:2::2]:443");
    EXPECT_EQ(tcpFlagsText(packet->tcpFlags), "SYN,ACK");
}

TEST(Packet, LooksThroughAVlanTag) {
    auto plain = ipv4Tcp(tcp_flag::kSyn, 0);
    std::vector<std::uint8_t> tagged(plain.begin(), plain.begin() + 12);
    std::uint8_t tag[4] = {0x81, 0x00, 0x00, 0x64};
    tagged.insert(tagged.end(), tag, tag + 4);
    tagged.insert(tagged.end(), plain.begin() + 12, plain.end());
    auto packet = parsePacket(DLT_EN10MB, tagged.data(), tagged.size(), 0);
    ASSERT_TRUE(packet.has_value());
    EXPECT_EQ(packet->destination.toString(), "198.51.100.2:80");
}

TEST(Packet, DecodesLinuxCookedCapture) {
    auto ether = ipv4Tcp(tcp_flag::kFin | tcp_flag::kAck, 0);
    std::vector<std::uint8_t> cooked(14, 0);
    cooked.push_back(0x08);
    cooked.push_back(0x00);
    cooked.insert(cooked.end(), ether.begin() + 14, ether.end());
    auto packet = parsePacket(DLT_LINUX_SLL, cooked.data(), cooked.size(), 0);
    ASSERT_TRUE(packet.has_value());
    EXPECT_EQ(tcpFlagsText(packet->tcpFlags), "FIN,ACK");
}

TEST(Packet, RefusesArpTruncatedFramesAndUnknownLinkTypes) {
    auto arp = ethernet(0x0806);
    arp.resize(42, 0);
    EXPECT_FALSE(parsePacket(DLT_EN10MB, arp.data(), arp.size(), 0).has_value());
    auto frame = ipv4Tcp(tcp_flag::kSyn, 0);
    EXPECT_FALSE(parsePacket(DLT_EN10MB, frame.data(), 20, 0).has_value());
    EXPECT_FALSE(parsePacket(DLT_IEEE802_11, frame.data(), frame.size(), 0).has_value());
}

TEST(Packet, ReadingAMissingFileNamesIt) {
    try {
        readPcapFile("/nonexistent/x.pcap");
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/x.pcap"), std::string::npos);
    }
}

}  // namespace
}  // namespace tplab
