// The text report fits a projector: no line wider than kReportColumns, whatever the runs hold.
#include "text_report.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace tplab {
namespace {

using Json = nlohmann::ordered_json;

std::size_t widestLine(const std::string& text, std::string* widest = nullptr) {
    std::istringstream lines(text);
    std::size_t most = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.size() > most) {
            most = line.size();
            if (widest)
                *widest = line;
        }
    }
    return most;
}

// A flow as a compare run records it over IPv6, with the longest fields the labs produce.
Json ipv6Flow(const std::string& accepted, const std::string& recovered_by) {
    Json hop = {{"point", "gateway:veth-c"},
                {"seen", true},
                {"source", "[2001:db8:1::2]:41778"},
                {"destination", "[2001:db8:2::2]:8080"},
                {"source_changed", true},
                {"destination_changed", true}};
    Json unseen = hop;
    unseen["point"] = "server:eth0";
    unseen["seen"] = false;
    return {
        {"client", "[2001:db8:1::2]:41778"},
        {"intended", "[2001:db8:2::2]:8080"},
        {"hops", Json::array({hop, hop, unseen})},
        {"internals",
         {{"accepted_local", accepted},
          {"original_dst", "[2001:db8:2::2]:8080"},
          {"recovered_by", recovered_by},
          {"lookup_error", nullptr},
          {"upstream_local", "[2001:db8:2::1]:37086"},
          {"server_saw", "[2001:db8:1::2]:41778"},
          {"nat",
           {{"present", true},
            {"tracked", true},
            {"entry",
             "tcp      6 119 TIME_WAIT src=2001:db8:1::2 dst=2001:db8:2::2 "
             "sport=41778 dport=8080 src=2001:db8:1::1 dst=2001:db8:1::2 "
             "sport=15001 dport=41778 [ASSURED] mark=0 use=1"}}},
          {"rules", Json::array({"[12:720] -t mangle -A PREROUTING -i veth-c -p tcp -m multiport "
                                 "--dports 80,8080 -j TPROXY --on-port 15002 --on-ip :: "
                                 "--tproxy-mark 0x1/0x1",
                                 "[3:180] -t mangle -A PREROUTING -p tcp -m socket "
                                 "--transparent -j DIVERT"})},
          {"socket",
           "ESTAB 0      0      [::ffff:198.51.100.2]:8080      "
           "[::ffff:192.0.2.2]:41778 users:((\"tplab\",pid=4242,fd=12)) "
           "uid:0 ino:123456 sk:2a1 cgroup:/user.slice <->"}}}};
}

Json run(const std::string& title, const std::string& family) {
    return {{"title", title},
            {"lab", "compare"},
            {"family", family},
            {"points", Json::array({{{"label", "client:eth0"}}})},
            {"flows", Json::array({ipv6Flow("[2001:db8:1::1]:15001", "SO_ORIGINAL_DST"),
                                   ipv6Flow("[2001:db8:2::2]:8080", "getsockname")})}};
}

TEST(ReportTextWidth, SixRunsOfACompareInBothFamiliesFitOneHundredColumns) {
    Json report = {{"runs", Json::array()}};
    for (const char* family : {"ipv4", "ipv6"}) {
        for (const char* title :
             {"REDIRECT (nat table)", "TPROXY (mangle table)", "TPROXY + --spoof-source"}) {
            report["runs"].push_back(run(title, family));
        }
    }
    std::string widest;
    std::string text = renderTextReport(report);
    EXPECT_LE(widestLine(text, &widest), kReportColumns) << widest;
    EXPECT_NE(text.find("== side by side, ipv4"), std::string::npos) << text;
    EXPECT_NE(text.find("== side by side, ipv6"), std::string::npos) << text;
}

TEST(ReportTextWidth, WrappedCellsKeepEveryCharacterOfTheRule) {
    Json report = {{"runs", Json::array({run("TPROXY (mangle table)", "ipv6")})}};
    std::string text = renderTextReport(report);
    EXPECT_LE(widestLine(text), kReportColumns) << text;
    std::string joined;
    for (char c : text)
        if (c != ' ' && c != '\n')
            joined += c;
    EXPECT_NE(joined.find("--dports80,8080-jTPROXY--on-port15002--on-ip::--tproxy-mark0x1/0x1"),
              std::string::npos)
        << text;
}

TEST(ReportTextWidth, FourRunsOfOneFamilyMakeTwoTablesOfTwo) {
    Json report = {{"runs", Json::array()}};
    for (const char* title : {"DNAT", "DNAT secondary", "REDIRECT", "TPROXY"})
        report["runs"].push_back(run(title, "ipv4"));
    std::string text = renderTextReport(report);
    EXPECT_LE(widestLine(text), kReportColumns) << text;
    std::size_t tables = 0;
    for (auto at = text.find("== side by side"); at != std::string::npos;
         at = text.find("== side by side", at + 1))
        ++tables;
    EXPECT_EQ(tables, 2u) << text;
}

TEST(ReportTextWidth, OneRunPerFamilyIsComparedAcrossFamilies) {
    Json report = {{"runs", Json::array({run("REDIRECT", "ipv4"), run("REDIRECT", "ipv6")})}};
    std::string text = renderTextReport(report);
    EXPECT_NE(text.find("== side by side (first flow"), std::string::npos) << text;
}

#ifdef TPLAB_SAMPLE_REPORT
TEST(ReportTextWidth, ShippedSampleReportFitsOneHundredColumns) {
    std::ifstream in(TPLAB_SAMPLE_REPORT);
    ASSERT_TRUE(in) << TPLAB_SAMPLE_REPORT;
    std::string widest;
    EXPECT_LE(widestLine(renderTextReport(Json::parse(in)), &widest), kReportColumns) << widest;
}
#endif

}  // namespace
}  // namespace tplab
