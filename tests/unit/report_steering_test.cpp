// "steered by": which kernel object handed a flow to the proxy, read from a run's rules.txt and
// bpf.json, and how the text and HTML reports show it.
#include "html_report.hpp"
#include "steering.hpp"
#include "text_report.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace tplab {
namespace {

using Json = nlohmann::ordered_json;
using Lines = std::vector<std::string>;

// rules.txt as record_rules writes it, for an AnyIP gateway (IPv4 rules only) with the
// kernel's own rules and a route of another table around the ones that matter.
Lines anyipRules() {
    return {"### [gw] iptables-save -c",
            "### [gw] ip6tables-save -c",
            "### [gw] ip rule",
            "0:\tfrom all lookup local",
            "32764:\tfrom all iif veth-c ipproto tcp dport 8080 lookup 100",
            "32765:\tfrom all iif veth-c ipproto tcp dport 80 lookup 100",
            "32766:\tfrom all lookup main",
            "32767:\tfrom all lookup default",
            "### [gw] ip -6 rule",
            "0:\tfrom all lookup local",
            "32766:\tfrom all lookup main",
            "### [gw] ip -4 route show table all | grep -v '^local.*table local'",
            "local default dev lo table 100 scope host",
            "192.0.2.0/24 dev veth-c proto kernel scope link src 192.0.2.1",
            "### [gw] ip -6 route show table all | grep -v '^local.*table local'",
            "local default dev lo table 100 metric 1024 pref medium"};
}

Json bpfState() {
    return Json::parse(R"({"netns_ino": 4026532801,
        "links": [{"id": 7, "type": "netns", "prog_id": 31, "netns_ino": 4026532801,
                   "attach_type": "sk_lookup"}],
        "programs": [{"id": 31, "type": "sk_lookup", "name": "tplab_steer", "map_ids": [5, 6, 8]}],
        "counters": {"steered": 2, "no_socket": 0, "assign_failed": 0}})");
}

TEST(SteeringObjects, AnIpRuleForTheFlowsPortAndItsTablesLocalRouteSteerAnAnyipFlow) {
    EXPECT_EQ(steeringObjects(anyipRules(), nullptr, false, 80),
              (Lines{"ip rule: iif veth-c ipproto tcp dport 80 lookup 100",
                     "route: local default dev lo table 100"}));
}

TEST(SteeringObjects, TheRuleForAnotherPortIsNotShown) {
    EXPECT_EQ(steeringObjects(anyipRules(), nullptr, false, 8080).front(),
              "ip rule: iif veth-c ipproto tcp dport 8080 lookup 100");
    EXPECT_EQ(steeringObjects(anyipRules(), nullptr, false, 443), Lines{});
}

TEST(SteeringObjects, TheOtherFamilysRulesAndRoutesAreNotShown) {
    // The IPv6 local route is there, but no IPv6 rule sends anything to its table.
    EXPECT_EQ(steeringObjects(anyipRules(), nullptr, true, 80), Lines{});
}

TEST(SteeringObjects, ATproxyFlowIsSteeredByItsRuleTheFwmarkRuleAndTheLocalRoute) {
    Lines rules = {
        "### [gw] iptables-save -c",
        "*mangle",
        "[8:492] -A PREROUTING -p tcp -m socket --transparent -j MARK --set-xmark 0x1/0x1",
        "[10:612] -A PREROUTING -i veth-c -p tcp -m multiport --dports 80,8080 -j "
        "TPROXY --on-port 15002 --on-ip 0.0.0.0 --tproxy-mark 0x1/0x1",
        "COMMIT",
        "### [gw] ip rule",
        "32765:\tfrom all fwmark 0x1/0x1 lookup 100",
        "### [gw] ip -4 route show table all | grep -v '^local.*table local'",
        "local default dev lo table 100 scope host"};
    EXPECT_EQ(steeringObjects(rules, nullptr, false, 80),
              (Lines{"mangle TPROXY rule (10 packets)", "ip rule: fwmark 0x1/0x1 lookup 100",
                     "route: local default dev lo table 100"}));
}

TEST(SteeringObjects, ARedirectFlowIsSteeredByTheNatRuleAlone) {
    Lines rules = {"*nat",
                   "[2:120] -A PREROUTING -i veth-c -p tcp -m multiport --dports 80,8080 -j "
                   "REDIRECT --to-ports 15001",
                   "[0:0] -A PREROUTING -p tcp -j DNAT --to-destination 192.0.2.9",
                   "### [gw] ip rule",
                   "0:\tfrom all lookup local",
                   "32766:\tfrom all lookup main"};
    EXPECT_EQ(steeringObjects(rules, nullptr, false, 80), Lines{"nat REDIRECT rule (2 packets)"});
}

TEST(SteeringObjects, AnSkLookupFlowNamesTheBpfLinkItsProgramAndWhatItCounted) {
    auto objects = steeringObjects(anyipRules(), bpfState(), false, 80);
    ASSERT_EQ(objects.size(), 3u);
    EXPECT_EQ(objects.back(),
              "BPF link 7 (sk_lookup, netns 4026532801) -> prog 31 tplab_steer: steered 2");
}

TEST(SteeringObjects, NoRuleNoRouteNoBpfMeansNothingSteered) {
    EXPECT_EQ(
        steeringObjects({"### [gw] ip rule", "0:\tfrom all lookup local"}, nullptr, false, 80),
        Lines{});
    EXPECT_EQ(steeringObjects({}, Json::object(), false, 80), Lines{});
}

TEST(SteeringObjects, MalformedLinesAreSkipped) {
    Lines rules = {"### [gw] ip rule", "lookup 100", ":", "32765: from", "[x] -A -j TPROXY"};
    EXPECT_EQ(steeringObjects(rules, Json::parse(R"({"links": [{}]})"), false, 80),
              Lines{"BPF link ? (?, netns ?) -> prog ? ?"});
}

Json runWith(const std::string& title, const Json& steeredBy) {
    Json hop = {{"point", "client:eth0"},
                {"seen", true},
                {"source", "192.0.2.2:41000"},
                {"destination", "198.51.100.2:80"}};
    Json flow = {{"client", "192.0.2.2:41000"},
                 {"intended", "198.51.100.2:80"},
                 {"hops", Json::array({hop})},
                 {"internals",
                  {{"accepted_local", "198.51.100.2:80"},
                   {"original_dst", "198.51.100.2:80"},
                   {"recovered_by", "getsockname"},
                   {"lookup_error", nullptr},
                   {"upstream_local", "198.51.100.1:50000"},
                   {"server_saw", "198.51.100.1:50000"},
                   {"nat", {{"present", false}, {"tracked", false}, {"entry", nullptr}}},
                   {"rules", Json::array()},
                   {"socket", nullptr},
                   {"steered_by", steeredBy}}}};
    return {{"name", title}, {"title", title}, {"family", "ipv4"}, {"flows", Json::array({flow})}};
}

Json sixRuns() {
    Json link = "BPF link 7 (sk_lookup, netns 4026532801) -> prog 31 tplab_steer: steered 2";
    Json routed = Json::array({"ip rule: iif veth-c ipproto tcp dport 80 lookup 100",
                               "route: local default dev lo table 100"});
    Json bpf = routed;
    bpf.push_back(link);
    return {{"runs", Json::array({runWith("explicit SOCKS5 proxy, IPv4", Json::array()),
                                  runWith("REDIRECT (nat table), IPv4",
                                          Json::array({"nat REDIRECT rule (2 packets)"})),
                                  runWith("TPROXY (mangle table), IPv4", routed),
                                  runWith("TPROXY + --spoof-source, IPv4", routed),
                                  runWith("AnyIP (ip rule + local route), IPv4", routed),
                                  runWith("sk-lookup (BPF program), IPv4", bpf)})}};
}

TEST(SteeredByRow, TheTextReportShowsItPerFlowAndSideBySideWithinTheColumns) {
    std::string report = renderTextReport(sixRuns());
    EXPECT_NE(report.find("    steered by                        ip rule: iif veth-c ipproto tcp "
                          "dport 80 lookup 100\n"),
              std::string::npos)
        << report;
    EXPECT_NE(report.find("BPF link 7 (sk_lookup, netns 4026532801) -> prog 31\n"),
              std::string::npos);
    EXPECT_NE(report.find("  steered by "), std::string::npos);
    // Side by side, the link keeps its id and the program's, without the netns inode.
    EXPECT_NE(report.find("table 100; BPF link 7\n"), std::string::npos) << report;
    EXPECT_EQ(report.find("netns 4026532801)", report.find("== side by side")), std::string::npos);
    std::istringstream lines(report);
    std::size_t sideBySideTables = 0;
    for (std::string line; std::getline(lines, line);) {
        EXPECT_LE(line.size(), kReportColumns) << line;
        sideBySideTables += line.rfind("== side by side", 0) == 0;
    }
    // Six runs of one family: two tables of three.
    EXPECT_EQ(sideBySideTables, 2u);
}

TEST(SteeredByRow, AFlowNothingSteeredShowsADash) {
    std::string report = renderTextReport(sixRuns());
    EXPECT_NE(report.find("    steered by                        -\n"), std::string::npos)
        << report;
}

TEST(SteeredByRow, TheHtmlComparisonHasTheRowWithEveryObject) {
    std::string html = renderHtmlReport(sixRuns());
    auto row = html.find("<th>steered by</th>", html.find("<section class=\"compare\">"));
    ASSERT_NE(row, std::string::npos);
    auto end = html.find("</tr>", row);
    std::string cells = html.substr(row, end - row);
    EXPECT_NE(cells.find("nat REDIRECT rule (2 packets)"), std::string::npos) << cells;
    EXPECT_NE(cells.find("tplab_steer: steered 2"), std::string::npos) << cells;
}

TEST(SteeredByRow, EachRunsHtmlInternalsNameTheObjectsOrSayNothingSteered) {
    std::string html = renderHtmlReport(sixRuns());
    EXPECT_NE(html.find("<code class=\"rule\">ip rule: iif veth-c ipproto tcp dport 80 lookup "
                        "100</code>"),
              std::string::npos);
    EXPECT_NE(html.find("nothing (no rule, route or program)"), std::string::npos);
}

}  // namespace
}  // namespace tplab
