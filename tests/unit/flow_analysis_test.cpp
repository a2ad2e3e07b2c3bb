// The report model from hand-made runs: which tuple each point saw, what changed, and the
// internals taken from events and kernel snapshots.
#include "flow_analysis.hpp"

#include <gtest/gtest.h>

namespace tplab {
namespace {

using Json = nlohmann::ordered_json;

Packet tcp(double time, const char* from, const char* to, std::uint8_t flags,
           std::size_t payload = 0) {
    Packet packet;
    packet.time = time;
    packet.transport = Transport::Tcp;
    packet.source = Endpoint::parse(from);
    packet.destination = Endpoint::parse(to);
    packet.tcpFlags = flags;
    packet.payloadBytes = payload;
    return packet;
}

constexpr std::uint8_t kSyn = tcp_flag::kSyn;
constexpr std::uint8_t kSynAck = tcp_flag::kSyn | tcp_flag::kAck;

RunRecords twoPointRun() {
    RunRecords run;
    run.directory = "/runs/x";
    run.meta = {{"mode", "redirect"}, {"title", "REDIRECT"}};
    run.lanes = {"client", "gateway", "server"};
    run.points.push_back({"client:eth0", "c.pcap", {"client", "gateway"}, {}});
    run.points.push_back({"server:eth0", "s.pcap", {"gateway", "server"}, {}});
    return run;
}

TEST(FlowAnalysis, RedirectFlowChangesSourceAtTheProxyAndShowsTheNat) {
    RunRecords run = twoPointRun();
    run.points[0].packets = {tcp(1.000, "192.0.2.2:40000", "198.51.100.2:80", kSyn),
                             tcp(1.001, "198.51.100.2:80", "192.0.2.2:40000", kSynAck),
                             tcp(1.004, "192.0.2.2:40000", "198.51.100.2:80", tcp_flag::kAck, 76)};
    run.points[1].packets = {tcp(1.002, "198.51.100.1:5000", "198.51.100.2:80", kSyn),
                             tcp(1.003, "198.51.100.2:80", "198.51.100.1:5000", kSynAck)};
    run.events = {Json{{"event", "accepted"},
                       {"id", 1},
                       {"client", "192.0.2.2:40000"},
                       {"local", "192.0.2.1:15001"},
                       {"original_dst", "198.51.100.2:80"},
                       {"recovered_by", "SO_ORIGINAL_DST"}},
                  Json{{"event", "connected"},
                       {"id", 1},
                       {"upstream_local", "198.51.100.1:5000"},
                       {"upstream_peer", "198.51.100.2:80"}}};
    run.conntrackLines = {
        "tcp 6 119 TIME_WAIT src=192.0.2.2 dst=198.51.100.2 sport=40000 dport=80 "
        "src=192.0.2.1 dst=192.0.2.2 sport=15001 dport=40000 [ASSURED] use=1"};
    run.ruleLines = {"*nat", "[1:60] -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 15001"};

    Json model = analyzeRun(run);
    ASSERT_EQ(model["flows"].size(), 1u);
    const Json& flow = model["flows"][0];
    EXPECT_EQ(flow["client"], "192.0.2.2:40000");
    EXPECT_EQ(flow["intended"], "198.51.100.2:80");
    EXPECT_EQ(flow["hops"][0]["source"], "192.0.2.2:40000");
    EXPECT_FALSE(flow["hops"][0]["source_changed"]);
    EXPECT_EQ(flow["hops"][1]["source"], "198.51.100.1:5000");
    EXPECT_TRUE(flow["hops"][1]["source_changed"]);
    EXPECT_FALSE(flow["hops"][1]["destination_changed"]);
    EXPECT_EQ(flow["hops"][0]["packets"], 3);
    const Json& in = flow["internals"];
    EXPECT_EQ(in["accepted_local"], "192.0.2.1:15001");
    EXPECT_EQ(in["recovered_by"], "SO_ORIGINAL_DST");
    EXPECT_EQ(in["server_saw"], "198.51.100.1:5000");
    EXPECT_TRUE(in["nat"]["present"]);
    ASSERT_EQ(in["rules"].size(), 1u);

    const Json& ladder = flow["ladder"];
    ASSERT_EQ(ladder.size(), 5u);
    EXPECT_EQ(ladder[0]["from"], "client");
    EXPECT_EQ(ladder[0]["to"], "gateway");
    EXPECT_EQ(ladder[0]["flags"], "SYN");
    // The gateway's kernel answers the client's SYN before the proxy even dials the server.
    EXPECT_EQ(ladder[1]["from"], "gateway");
    EXPECT_EQ(ladder[1]["to"], "client");
    EXPECT_EQ(ladder[1]["flags"], "SYN,ACK");
    EXPECT_EQ(ladder[2]["from"], "gateway");
    EXPECT_EQ(ladder[2]["to"], "server");
    EXPECT_EQ(ladder[3]["from"], "server");
    EXPECT_EQ(ladder[4]["payload"], 76);
    EXPECT_NEAR(ladder[4]["time_ms"].get<double>(), 4.0, 1e-6);
}

TEST(FlowAnalysis, DirectFlowKeepsItsTupleAndTheServerSeesTheClient) {
    RunRecords run = twoPointRun();
    run.points[0].packets = {tcp(1.0, "192.0.2.2:40000", "198.51.100.2:80", kSyn)};
    run.points[1].packets = {tcp(1.1, "192.0.2.2:40000", "198.51.100.2:80", kSyn)};
    Json flow = analyzeRun(run)["flows"][0];
    EXPECT_FALSE(flow["hops"][1]["source_changed"]);
    EXPECT_FALSE(flow["hops"][1]["destination_changed"]);
    EXPECT_EQ(flow["internals"]["server_saw"], "192.0.2.2:40000");
    EXPECT_TRUE(flow["internals"]["accepted_local"].is_null());
    EXPECT_FALSE(flow["internals"]["nat"]["tracked"]);
}

TEST(FlowAnalysis, DnatToARemoteBoxShowsTheRewrittenDestinationOnTheWire) {
    RunRecords run = twoPointRun();
    run.points[0].packets = {tcp(1.0, "192.0.2.2:40000", "198.51.100.2:80", kSyn)};
    run.points[1].packets = {tcp(1.1, "192.0.2.2:40000", "203.0.113.2:15001", kSyn)};
    Json hop = analyzeRun(run)["flows"][0]["hops"][1];
    EXPECT_TRUE(hop["seen"]);
    EXPECT_FALSE(hop["source_changed"]);
    EXPECT_TRUE(hop["destination_changed"]);
    EXPECT_EQ(hop["destination"], "203.0.113.2:15001");
}

TEST(FlowAnalysis, APointWithoutTheFlowIsMarkedUnseen) {
    RunRecords run = twoPointRun();
    run.points[0].packets = {tcp(1.0, "192.0.2.2:40000", "198.51.100.2:80", kSyn)};
    Json flow = analyzeRun(run)["flows"][0];
    EXPECT_FALSE(flow["hops"][1]["seen"]);
    EXPECT_TRUE(flow["hops"][1]["source"].is_null());
    EXPECT_TRUE(flow["internals"]["server_saw"].is_null())
        << "the server's side never saw the flow, so the server saw nothing";
}

TEST(FlowAnalysis, EachClientConnectionIsOneFlowEvenWithRetransmittedSyns) {
    RunRecords run = twoPointRun();
    run.points[0].packets = {tcp(1.0, "192.0.2.2:40000", "198.51.100.2:80", kSyn),
                             tcp(2.0, "192.0.2.2:40000", "198.51.100.2:80", kSyn),
                             tcp(3.0, "192.0.2.2:40001", "198.51.100.2:7000", kSyn)};
    Json flows = analyzeRun(run)["flows"];
    ASSERT_EQ(flows.size(), 2u);
    EXPECT_EQ(flows[1]["intended"], "198.51.100.2:7000");
}

TEST(FlowAnalysis, ReportCarriesEveryRunInOrder) {
    Json report = buildReport({twoPointRun(), twoPointRun()});
    EXPECT_EQ(report["tool"], "tplab report");
    EXPECT_EQ(report["runs"].size(), 2u);
    EXPECT_TRUE(report["runs"][0]["flows"].empty());
}

}  // namespace
}  // namespace tplab
