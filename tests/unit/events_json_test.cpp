// The event shapes that docs/events.md promises.
#include "events_json.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>

namespace tplab {
namespace {

TEST(EventsJson, AcceptedNamesClientListenerLocalDestinationAndMethod) {
    DestinationLookup lookup;
    lookup.destination = Endpoint::parse("198.51.100.2:80");
    lookup.method = "SO_ORIGINAL_DST";
    auto event =
        acceptedEvent(7, "redirect", Endpoint::parse("192.0.2.2:40000"),
                      Endpoint::parse("[::]:15001"), Endpoint::parse("192.0.2.1:15001"), lookup);
    EXPECT_EQ(event["event"], "accepted");
    EXPECT_EQ(event["id"], 7);
    EXPECT_EQ(event["mode"], "redirect");
    EXPECT_EQ(event["client"], "192.0.2.2:40000");
    EXPECT_EQ(event["listener"], "[::]:15001");
    EXPECT_EQ(event["local"], "192.0.2.1:15001");
    EXPECT_EQ(event["original_dst"], "198.51.100.2:80");
    EXPECT_EQ(event["recovered_by"], "SO_ORIGINAL_DST");
    EXPECT_FALSE(event.contains("lookup_error"));
    EXPECT_EQ(event.begin().key(), "event") << "event must be the first key of each line";
}

TEST(EventsJson, AcceptedWithoutDestinationHasNullAndTheError) {
    DestinationLookup lookup;
    lookup.method = "SO_ORIGINAL_DST";
    lookup.notRedirected = true;
    lookup.failure = "getsockopt(...): No such file or directory";
    auto event =
        acceptedEvent(1, "redirect", Endpoint::parse("192.0.2.2:1"),
                      Endpoint::parse("0.0.0.0:15001"), Endpoint::parse("192.0.2.1:15001"), lookup);
    EXPECT_TRUE(event["original_dst"].is_null());
    EXPECT_EQ(event["lookup_error"], lookup.failure);
}

TEST(EventsJson, ConnectedNamesBothEndsOfTheUpstreamSocket) {
    auto event = connectedEvent(3, Endpoint::parse("198.51.100.1:5000"),
                                Endpoint::parse("198.51.100.2:80"), 1.5);
    EXPECT_EQ(event["event"], "connected");
    EXPECT_EQ(event["upstream_local"], "198.51.100.1:5000");
    EXPECT_EQ(event["upstream_peer"], "198.51.100.2:80");
    EXPECT_DOUBLE_EQ(event["connect_ms"].get<double>(), 1.5);
}

TEST(EventsJson, ClosedCarriesReasonBytesAndDuration) {
    auto event = closedEvent(3, CloseReason::ConnectRefused, 10, 20, 4.25, "connect(...): refused");
    EXPECT_EQ(event["event"], "closed");
    EXPECT_EQ(event["reason"], "connect_refused");
    EXPECT_EQ(event["bytes_client_to_upstream"], 10);
    EXPECT_EQ(event["bytes_upstream_to_client"], 20);
    EXPECT_DOUBLE_EQ(event["duration_ms"].get<double>(), 4.25);
    EXPECT_EQ(event["detail"], "connect(...): refused");
    EXPECT_FALSE(closedEvent(3, CloseReason::Normal, 0, 0, 1, "").contains("detail"));
}

TEST(EventsJson, EveryCloseReasonHasADistinctSnakeCaseName) {
    std::set<std::string> names;
    for (auto reason : kAllCloseReasons) {
        std::string name(toString(reason));
        EXPECT_TRUE(std::regex_match(name, std::regex("[a-z_]+"))) << name;
        names.insert(name);
    }
    EXPECT_EQ(names.size(), std::size(kAllCloseReasons));
}

TEST(EventsJson, StatsCountsEveryReason) {
    ProxyStats stats;
    stats.accepted = 5;
    stats.active = 1;
    stats.closedFor(CloseReason::LoopRefused) = 2;
    auto event = statsEvent("SIGUSR1", stats);
    EXPECT_EQ(event["event"], "stats");
    EXPECT_EQ(event["trigger"], "SIGUSR1");
    EXPECT_EQ(event["accepted"], 5);
    EXPECT_EQ(event["active"], 1);
    EXPECT_EQ(event["closed"]["loop_refused"], 2);
    EXPECT_EQ(event["closed"].size(), std::size(kAllCloseReasons));
}

TEST(EventsJson, SinkWritesOneLinePerEventWithATimestamp) {
    char path[] = "/tmp/tplab-events-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    {
        EventSink sink(path);
        sink.write(listeningEvent("tproxy", Endpoint::parse("0.0.0.0:15002")));
        sink.write(statsEvent("exit", ProxyStats{}));
    }
    std::ifstream in(path);
    std::string line;
    std::vector<Json> lines;
    while (std::getline(in, line)) {
        lines.push_back(Json::parse(line));
    }
    ::unlink(path);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["event"], "listening");
    EXPECT_TRUE(std::regex_match(lines[0]["time"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
    EXPECT_EQ(lines[1]["event"], "stats");
}

TEST(EventsJson, SinkOnAnUnwritablePathIsASetupError) {
    EXPECT_THROW(EventSink("/nonexistent-dir/events.jsonl"), std::system_error);
}

}  // namespace
}  // namespace tplab
