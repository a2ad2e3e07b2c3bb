// UDP in the report: a datagram flow is followed from wire to wire like a TCP connection, a reply
// does not start a flow of its own, and the ladder labels its arrows UDP.
#include "flow_analysis.hpp"
#include "text_report.hpp"

#include <gtest/gtest.h>

namespace tplab {
namespace {

using Json = nlohmann::ordered_json;

Packet udp(double time, const char* from, const char* to, std::size_t payload) {
    Packet packet;
    packet.time = time;
    packet.transport = Transport::Udp;
    packet.source = Endpoint::parse(from);
    packet.destination = Endpoint::parse(to);
    packet.payloadBytes = payload;
    return packet;
}

// Two DNS queries from different client ports to the same server, through a TPROXY gateway
// whose proxy sends them on from its own address, as lab 07 records them.
RunRecords udpTproxyRun() {
    RunRecords run;
    run.directory = "/runs/udp-tproxy-ipv4";
    run.meta = {{"mode", "tproxy"}, {"title", "TPROXY, UDP"}};
    run.lanes = {"client", "gateway", "server"};
    run.points.push_back({"client:eth0", "c.pcap", {"client", "gateway"}, {}});
    run.points.push_back({"server:eth0", "s.pcap", {"gateway", "server"}, {}});
    run.points[0].packets = {udp(1.00, "192.0.2.2:45047", "198.51.100.2:53", 40),
                             udp(1.01, "198.51.100.2:53", "192.0.2.2:45047", 56),
                             udp(1.02, "192.0.2.2:45048", "198.51.100.2:53", 40),
                             udp(1.03, "198.51.100.2:53", "192.0.2.2:45048", 56)};
    run.points[1].packets = {udp(1.005, "198.51.100.1:56760", "198.51.100.2:53", 40),
                             udp(1.006, "198.51.100.2:53", "198.51.100.1:56760", 56)};
    run.events = {
        Json::parse(R"({"event":"accepted","id":1,"protocol":"udp","client":"192.0.2.2:45047",
            "local":"198.51.100.2:53","original_dst":"198.51.100.2:53",
            "recovered_by":"IP_ORIGDSTADDR"})"),
        Json::parse(R"({"event":"connected","id":1,"upstream_local":"198.51.100.1:56760",
            "upstream_peer":"198.51.100.2:53","protocol":"udp"})")};
    return run;
}

TEST(ReportUdpFlow, EachClientDatagramFlowIsOneFlowAndRepliesStartNone) {
    Json flows = analyzeRun(udpTproxyRun())["flows"];
    ASSERT_EQ(flows.size(), 2u) << flows.dump(2);
    EXPECT_EQ(flows[0]["client"], "192.0.2.2:45047");
    EXPECT_EQ(flows[0]["protocol"], "udp");
    EXPECT_EQ(flows[1]["client"], "192.0.2.2:45048");
}

TEST(ReportUdpFlow, TheProxysUpstreamIsFoundThroughItsConnectedEvent) {
    Json flow = analyzeRun(udpTproxyRun())["flows"][0];
    EXPECT_EQ(flow["hops"][1]["source"], "198.51.100.1:56760");
    EXPECT_TRUE(flow["hops"][1]["source_changed"]);
    EXPECT_EQ(flow["internals"]["recovered_by"], "IP_ORIGDSTADDR");
    EXPECT_EQ(flow["internals"]["server_saw"], "198.51.100.1:56760");
}

TEST(ReportUdpFlow, LadderArrowsSayUdpAndCarryThePayload) {
    Json ladder = analyzeRun(udpTproxyRun())["flows"][0]["ladder"];
    ASSERT_EQ(ladder.size(), 4u) << ladder.dump(2);
    for (const auto& arrow : ladder)
        EXPECT_EQ(arrow["flags"], "UDP");
    EXPECT_EQ(ladder[0]["payload"], 40);
}

TEST(ReportUdpFlow, TextReportMarksTheFlowAsUdp) {
    Json report = {{"runs", Json::array({analyzeRun(udpTproxyRun())})}};
    std::string text = renderTextReport(report);
    EXPECT_NE(text.find("flow 1 (UDP): 192.0.2.2:45047 -> 198.51.100.2:53"), std::string::npos)
        << text;
}

TEST(ReportUdpFlow, RunWithoutPacketsHasNoFlows) {
    RunRecords run = udpTproxyRun();
    for (auto& point : run.points)
        point.packets.clear();
    EXPECT_TRUE(analyzeRun(run)["flows"].empty());
}

}  // namespace
}  // namespace tplab
