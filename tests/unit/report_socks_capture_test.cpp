// The explicit-proxy handshake in the report, read from real captures: tests/data/explicit-ipv4
// and -ipv6 are one run of labs/00-explicit.sh (curl --socks5 and curl --proxytunnel through
// tplab proxy --mode socks5 and --mode http-connect, in namespaces), cut to two capture points.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "flow_analysis.hpp"
#include "html_report.hpp"
#include "run_records.hpp"
#include "socks_handshake.hpp"
#include "text_report.hpp"

namespace tplab {
namespace {

using Json = nlohmann::ordered_json;

const std::string kData = TPLAB_TEST_DATA;

Json analyzed(const std::string& run) {
    return analyzeRun(loadRunRecords(kData + "/" + run));
}

// The flow whose client went to the given proxy port.
const Json& flowTo(const Json& model, const std::string& port) {
    for (const Json& flow : model["flows"]) {
        std::string intended = flow["intended"].get<std::string>();
        if (intended.ends_with(":" + port)) {
            return flow;
        }
    }
    throw std::runtime_error("no flow to port " + port);
}

std::vector<std::string> column(const Json& messages, const char* key) {
    std::vector<std::string> values;
    for (const Json& message : messages) {
        values.push_back(message[key].get<std::string>());
    }
    return values;
}

TEST(ReportSocksCapture, CurlsSocks5RequestIsTheIssuesBytesAndMeansConnectToTheServer) {
    Json model = analyzed("explicit-ipv4");
    const Json& flow = flowTo(model, "1080");
    const Json& handshake = flow["explicit"];
    ASSERT_TRUE(handshake.is_object()) << flow.dump(2);
    EXPECT_EQ(handshake["point"], "client:eth0");
    EXPECT_EQ(handshake["request"], "SOCKS5 CONNECT 198.51.100.2:80");
    EXPECT_EQ(column(handshake["messages"], "from"),
              (std::vector<std::string>{"client", "proxy", "client", "proxy"}));
    std::vector<std::string> shown = column(handshake["messages"], "shown");
    EXPECT_EQ(shown[0], "05 02 00 01");  // curl offers no authentication and GSSAPI
    EXPECT_EQ(shown[1], "05 00");        // tplab picks no authentication
    EXPECT_EQ(shown[2], "05 01 00 01 c6 33 64 02 00 50");
    EXPECT_EQ(handshake["messages"][2]["meaning"], "CMD 01 ATYP 01: CONNECT 198.51.100.2:80");
}

TEST(ReportSocksCapture, TheReplysBoundAddressIsTheUpstreamSocketTheProxysEventsName) {
    Json model = analyzed("explicit-ipv4");
    const Json& flow = flowTo(model, "1080");
    std::string reply = flow["explicit"]["messages"][3]["meaning"].get<std::string>();
    std::string upstream = flow["internals"]["upstream_local"].get<std::string>();
    EXPECT_EQ(reply, "REP 00 (succeeded), bound " + upstream);
    // ... and the server's own wire shows a connection from that socket.
    EXPECT_EQ(flow["internals"]["server_saw"], upstream);
}

TEST(ReportSocksCapture, AnIpv6RequestCarriesSixteenAddressBytesWithAtyp04) {
    Json model = analyzed("explicit-ipv6");
    const Json& handshake = flowTo(model, "1080")["explicit"];
    ASSERT_TRUE(handshake.is_object());
    EXPECT_EQ(handshake["request"], "SOCKS5 CONNECT [2001:db8:2::2]:80");
    EXPECT_EQ(handshake["messages"][2]["shown"],
              "05 01 00 04 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 02 00 50");
}

TEST(ReportSocksCapture, HttpConnectIsDecodedFromItsRequestLineWithItsOwnProxysEvents) {
    Json model = analyzed("explicit-ipv4");
    const Json& connect = flowTo(model, "3128");
    ASSERT_TRUE(connect["explicit"].is_object());
    EXPECT_EQ(connect["explicit"]["request"], "HTTP CONNECT 198.51.100.2:80");
    EXPECT_EQ(column(connect["explicit"]["messages"], "shown"),
              (std::vector<std::string>{"CONNECT 198.51.100.2:80 HTTP/1.1",
                                        "HTTP/1.1 200 Connection established"}));
    // Two proxies in one run: connect-events.jsonl's ids are not events.jsonl's.
    EXPECT_EQ(connect["internals"]["recovered_by"], "HTTP CONNECT request");
    EXPECT_NE(connect["internals"]["upstream_local"],
              flowTo(model, "1080")["internals"]["upstream_local"]);
    EXPECT_EQ(connect["internals"]["server_saw"], connect["internals"]["upstream_local"]);
}

TEST(ReportSocksCapture, PacketsKeepAtMostSixtyFourBytesOfPayload) {
    std::vector<Packet> packets = readPcapFile(kData + "/explicit-ipv4/client-eth0.pcap");
    std::size_t longest = 0;
    bool sawLongerPacket = false;
    for (const Packet& packet : packets) {
        EXPECT_EQ(packet.payloadHead.size(), std::min(packet.payloadBytes, kPayloadHeadBytes));
        longest = std::max(longest, packet.payloadHead.size());
        sawLongerPacket = sawLongerPacket || packet.payloadBytes > kPayloadHeadBytes;
    }
    EXPECT_TRUE(sawLongerPacket) << "the capture should hold curl's HTTP request (76 bytes)";
    EXPECT_EQ(longest, kPayloadHeadBytes);
}

TEST(ReportSocksCapture, TextReportShowsTheHandshakeAndTheClientsConfigurationWithin100Columns) {
    std::vector<RunRecords> runs = {loadRunRecords(kData + "/explicit-ipv4"),
                                    loadRunRecords(kData + "/explicit-ipv6")};
    std::string text = renderTextReport(buildReport(runs));
    EXPECT_NE(text.find("explicit proxy handshake at client:eth0: SOCKS5 CONNECT 198.51.100.2:80"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("client -> proxy   05 01 00 01 c6 33 64 02 00 50"), std::string::npos);
    EXPECT_NE(text.find("client configured with    the proxy's address (SOCKS5)"),
              std::string::npos)
        << text;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        EXPECT_LE(line.size(), kReportColumns) << line;
    }
}

TEST(ReportSocksCapture, HtmlReportShowsTheHandshakeTable) {
    std::string html = renderHtmlReport(buildReport({loadRunRecords(kData + "/explicit-ipv4")}));
    EXPECT_NE(html.find("Explicit proxy handshake at client:eth0"), std::string::npos);
    EXPECT_NE(html.find("<code>05 01 00 01 c6 33 64 02 00 50</code>"), std::string::npos);
    EXPECT_NE(html.find("<code>HTTP/1.1 200 Connection established</code>"), std::string::npos);
}

// Hand-made packets: what a real capture rarely shows (a retransmission, a plain HTTP client).
Packet data(double time, const char* from, const char* to, std::uint32_t sequence,
            const std::string& payload) {
    Packet packet;
    packet.time = time;
    packet.transport = Transport::Tcp;
    packet.source = Endpoint::parse(from);
    packet.destination = Endpoint::parse(to);
    packet.tcpFlags = payload.empty() ? tcp_flag::kSyn : (tcp_flag::kPsh | tcp_flag::kAck);
    packet.sequence = sequence;
    packet.payloadBytes = payload.size();
    packet.payloadHead = payload;
    return packet;
}

RunRecords oneFlow(std::vector<Packet> packets) {
    RunRecords run;
    run.meta = {{"mode", "socks5"}};
    run.lanes = {"client", "gateway"};
    run.points.push_back({"client:eth0", "c.pcap", {"client", "gateway"}, std::move(packets)});
    return run;
}

TEST(ReportSocksCapture, ARetransmittedGreetingIsReadOnce) {
    const char* c = "192.0.2.2:40000";
    const char* p = "192.0.2.1:1080";
    std::string greeting("\x05\x01\x00", 3);
    std::string request("\x05\x01\x00\x01\xc6\x33\x64\x02\x00\x50", 10);
    Json model = analyzeRun(oneFlow(
        {data(1.0, c, p, 100, ""), data(1.1, c, p, 101, greeting), data(1.3, c, p, 101, greeting),
         data(1.4, p, c, 500, std::string("\x05\x00", 2)), data(1.5, c, p, 104, request)}));
    const Json& handshake = model["flows"][0]["explicit"];
    ASSERT_TRUE(handshake.is_object()) << model.dump(2);
    EXPECT_EQ(column(handshake["messages"], "shown"),
              (std::vector<std::string>{"05 01 00", "05 00", "05 01 00 01 c6 33 64 02 00 50"}));
}

TEST(ReportSocksCapture, ATransparentClientsHttpRequestIsNoHandshake) {
    Json model = analyzeRun(oneFlow({data(1.0, "192.0.2.2:40000", "198.51.100.2:80", 7, ""),
                                     data(1.1, "192.0.2.2:40000", "198.51.100.2:80", 8,
                                          "GET / HTTP/1.1\r\nHost: 198.51.100.2\r\n\r\n")}));
    EXPECT_TRUE(model["flows"][0]["explicit"].is_null());
}

// Every cut of both streams (a capture that stopped early, a packet kept only in part) decodes
// to fewer messages, never to bytes past the cut (the sanitizer build reads this test too).
TEST(ReportSocksCapture, EveryPrefixOfBothStreamsDecodesAsFarAsItGoes) {
    // A client with a password may offer both methods; the proxy's answer decides.
    std::string client = std::string(
                             "\x05\x02\x00\x02\x01\x05"
                             "alice\x02pw",
                             14) +
                         std::string("\x05\x01\x00\x03\x0bserver.test\x00\x50", 18);
    std::string proxy = std::string("\x05\x02\x01\x00", 4) + std::string("\x05\x00\x00\x04", 4) +
                        std::string(16, '\x01') + std::string("\x9a\x1e", 2);
    EXPECT_EQ(decodeProxyHandshake(client, proxy).messages.size(), 6u);
    for (std::size_t c = 0; c <= client.size(); ++c) {
        for (std::size_t p = 0; p <= proxy.size(); ++p) {
            auto messages = decodeProxyHandshake(client.substr(0, c), proxy.substr(0, p)).messages;
            EXPECT_LE(messages.size(), 6u);
            EXPECT_TRUE(c == client.size() || messages.empty()) << c << " " << p;
        }
    }
    ProxyExchange exchange = decodeProxyHandshake(client, proxy);
    EXPECT_EQ(exchange.request, "SOCKS5 CONNECT server.test:80 (user 'alice')");
    const auto& full = exchange.messages;
    EXPECT_EQ(full[2].meaning, "username/password (RFC 1929, in clear): user 'alice'");
    EXPECT_EQ(full[4].meaning, "CMD 01 ATYP 03: CONNECT server.test:80");
    EXPECT_EQ(full[5].meaning, "REP 00 (succeeded), bound [101:101:101:101:101:101:101:101]:39454");
}

}  // namespace
}  // namespace tplab
