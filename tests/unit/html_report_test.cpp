// The HTML report: self-contained, one column and one ladder per run, everything escaped, and no
// crash on the thin models that real runs produce (no flows, unseen hops, null internals).
#include "html_report.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>

namespace tplab {
namespace {

using Json = nlohmann::ordered_json;

std::size_t countOf(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++count;
    }
    return count;
}

Json hop(const char* point, const char* source, const char* destination, bool sourceChanged) {
    return {{"point", point},
            {"seen", true},
            {"source", source},
            {"destination", destination},
            {"packets", 10},
            {"source_changed", sourceChanged},
            {"destination_changed", false}};
}

Json packet(double timeMs, const char* from, const char* to, const char* flags, int payload) {
    return {{"time_ms", timeMs}, {"point", "client:eth0"},      {"from", from},
            {"to", to},          {"source", "192.0.2.2:41778"}, {"destination", "198.51.100.2:80"},
            {"flags", flags},    {"payload", payload}};
}

// One run shaped like `tplab report` output for the compare lab.
Json makeRun(const char* name, const char* title, const char* acceptedLocal,
             const char* recoveredBy, bool nat, const char* rule) {
    Json natJson = {{"present", nat}, {"entry", nullptr}};
    if (nat) {
        natJson["entry"] = "tcp 6 119 TIME_WAIT src=192.0.2.2 dst=198.51.100.2 sport=41778";
    }
    Json flow = {
        {"client", "192.0.2.2:41778"},
        {"intended", "198.51.100.2:80"},
        {"hops", Json::array({hop("client:eth0", "192.0.2.2:41778", "198.51.100.2:80", false),
                              hop("gateway:veth-c", "192.0.2.2:41778", "198.51.100.2:80", false),
                              hop("gateway:veth-s", "198.51.100.1:37086", "198.51.100.2:80", true),
                              hop("server:eth0", "198.51.100.1:37086", "198.51.100.2:80", false)})},
        {"internals",
         {{"accepted_local", acceptedLocal},
          {"original_dst", "198.51.100.2:80"},
          {"recovered_by", recoveredBy},
          {"upstream_local", "198.51.100.1:37086"},
          {"server_saw", "198.51.100.1:37086"},
          {"nat", natJson},
          {"rules", Json::array({rule})},
          {"socket", "ESTAB 0 0 192.0.2.1:15001 192.0.2.2:41778 users:((\"tplab\",pid=1,fd=9))"}}},
        {"ladder", Json::array({packet(0.0, "client", "gateway", "SYN", 0),
                                packet(0.05, "gateway", "client", "SYN,ACK", 0),
                                packet(0.3, "client", "gateway", "PSH,ACK", 78),
                                packet(0.4, "gateway", "server", "FIN,ACK", 0),
                                packet(0.5, "server", "gateway", "RST", 0)})}};
    return {
        {"name", name},
        {"title", title},
        {"lab", "compare"},
        {"mode", name},
        {"family", "ipv4"},
        {"lanes", Json::array({"client", "gateway", "server"})},
        {"points", Json::array({{{"label", "client:eth0"}, {"between", {"client", "gateway"}}}})},
        {"flows", Json::array({flow})}};
}

Json twoRunReport() {
    return {{"tool", "tplab report"},
            {"version", "0.1.0"},
            {"generated", "2026-11-25T05:00:00Z"},
            {"runs",
             Json::array(
                 {makeRun("redirect", "REDIRECT (nat table)", "192.0.2.1:15001", "SO_ORIGINAL_DST",
                          true, "-t nat -A PREROUTING -j REDIRECT --to-ports 15001"),
                  makeRun("tproxy", "TPROXY (mangle table)", "198.51.100.2:80", "getsockname",
                          false, "-t mangle -A PREROUTING -j TPROXY --on-port 15002")})}};
}

Json oneRunReport(Json run) {
    return {{"generated", "2026-11-25T05:00:00Z"}, {"runs", Json::array({std::move(run)})}};
}

TEST(HtmlReport, PageIsSelfContainedWithNoExternalResources) {
    std::string html = renderHtmlReport(twoRunReport());
    EXPECT_EQ(html.find("<link"), std::string::npos);
    EXPECT_EQ(html.find("@import"), std::string::npos);
    EXPECT_EQ(html.find("url("), std::string::npos);
    std::regex external(R"((src|href)\s*=\s*["']?\s*(https?:)?//)", std::regex::icase);
    EXPECT_FALSE(std::regex_search(html, external)) << "the page must load nothing";
    EXPECT_NE(html.find("<style>"), std::string::npos) << "CSS is inline";
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
}

TEST(HtmlReport, HasOneColumnAndOneLadderPerRun) {
    std::string html = renderHtmlReport(twoRunReport());
    EXPECT_EQ(countOf(html, "<section class=\"run\""), 2u);
    EXPECT_EQ(countOf(html, "<svg class=\"ladder\""), 2u);
    EXPECT_NE(html.find("data-run=\"redirect\""), std::string::npos);
    EXPECT_NE(html.find("data-run=\"tproxy\""), std::string::npos);
    EXPECT_NE(html.find("REDIRECT (nat table)"), std::string::npos);
    EXPECT_NE(html.find("TPROXY (mangle table)"), std::string::npos);
}

TEST(HtmlReport, LadderLabelsEveryLaneEvenWithFourLanes) {
    Json run = makeRun("chain", "chain", "192.0.2.1:15001", "SO_ORIGINAL_DST", true, "r");
    run["lanes"] = Json::array({"client", "gateway", "proxy", "server"});
    std::string html = renderHtmlReport(oneRunReport(run));
    for (const char* lane : {"client", "gateway", "proxy", "server"}) {
        EXPECT_NE(html.find(std::string(">") + lane + "</text>"), std::string::npos) << lane;
    }
}

TEST(HtmlReport, ShowsTheAddressesAndInternalsOfEachFlow) {
    std::string html = renderHtmlReport(twoRunReport());
    for (const char* text : {"192.0.2.2:41778", "198.51.100.2:80", "198.51.100.1:37086",
                             "192.0.2.1:15001", "SO_ORIGINAL_DST", "getsockname", "TIME_WAIT",
                             "--to-ports 15001", "--on-port 15002", "ESTAB 0 0"}) {
        EXPECT_NE(html.find(text), std::string::npos) << text;
    }
    EXPECT_EQ(countOf(html, "<td class=\"changed\">"), 2u) << "one changed source per run";
}

TEST(HtmlReport, LadderArrowsAreColouredByTheirFlagsAndShowPayload) {
    std::string html = renderHtmlReport(twoRunReport());
    for (const char* kind : {"k-syn", "k-data", "k-fin", "k-rst"}) {
        EXPECT_NE(html.find(std::string("class=\"arrow ") + kind), std::string::npos) << kind;
    }
    EXPECT_NE(html.find("PSH,ACK · 78 B"), std::string::npos);
    EXPECT_NE(html.find("0.300 ms"), std::string::npos);
    EXPECT_NE(html.find("192.0.2.2:41778 → 198.51.100.2:80"), std::string::npos);
}

TEST(HtmlReport, EscapesRuleTextTitlesAndAddresses) {
    Json run = makeRun("evil", "<b>bold</b> & co", "[2001:db8:1::1]:15001", "SO_ORIGINAL_DST", true,
                       "-m comment --comment \"<script>alert(1)</script>\" -j REDIRECT");
    run["lanes"][0] = "cli\"ent<";
    std::string html = renderHtmlReport(oneRunReport(run));
    EXPECT_NE(html.find("--comment &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;"),
              std::string::npos);
    EXPECT_EQ(html.find("<script>alert"), std::string::npos);
    EXPECT_EQ(countOf(html, "<script"), 1u) << "only the page's own closing script";
    EXPECT_NE(html.find("&lt;b&gt;bold&lt;/b&gt; &amp; co"), std::string::npos);
    EXPECT_NE(html.find("cli&quot;ent&lt;"), std::string::npos);
    EXPECT_NE(html.find("[2001:db8:1::1]:15001"), std::string::npos);
}

TEST(HtmlReport, RunWithZeroFlowsSaysSoAndDrawsNoLadder) {
    Json run = makeRun("empty", "empty", "x", "y", false, "r");
    run["flows"] = Json::array();
    std::string html;
    ASSERT_NO_THROW(html = renderHtmlReport(oneRunReport(run)));
    EXPECT_NE(html.find("no TCP flow was captured"), std::string::npos);
    EXPECT_EQ(countOf(html, "<svg"), 0u);
    EXPECT_EQ(countOf(html, "<section class=\"run\""), 1u);
}

TEST(HtmlReport, UnseenHopIsGreyedOut) {
    Json run = makeRun("direct", "direct", "x", "y", false, "r");
    run["flows"][0]["hops"][1] = {{"point", "gateway:veth-c"},
                                  {"seen", false},
                                  {"source", nullptr},
                                  {"destination", nullptr},
                                  {"packets", 0}};
    std::string html;
    ASSERT_NO_THROW(html = renderHtmlReport(oneRunReport(run)));
    EXPECT_EQ(countOf(html, "<tr class=\"unseen\">"), 1u);
    EXPECT_NE(html.find("not seen"), std::string::npos);
}

TEST(HtmlReport, NullInternalsShowADashInsteadOfFailing) {
    Json run = makeRun("direct", "direct (no proxy)", "x", "y", false, "r");
    Json& internals = run["flows"][0]["internals"];
    for (const char* key :
         {"accepted_local", "original_dst", "recovered_by", "upstream_local", "socket", "nat"}) {
        internals[key] = nullptr;
    }
    internals["rules"] = Json::array();
    std::string html;
    ASSERT_NO_THROW(html = renderHtmlReport(oneRunReport(run)));
    EXPECT_GE(countOf(html, "<span class=\"none\">—</span>"), 5u);
    EXPECT_NE(html.find("none matched"), std::string::npos);
}

TEST(HtmlReport, NatCellSaysWhetherConntrackTrackedTheFlowAndShowsLookupErrors) {
    Json run = makeRun("dnat", "dnat", "x", "SO_ORIGINAL_DST", false, "r");
    Json& internals = run["flows"][0]["internals"];
    internals["nat"] = {{"present", false}, {"tracked", false}, {"entry", nullptr}};
    internals["lookup_error"] = "getsockopt(SO_ORIGINAL_DST, fd 7): No such file <or> directory";
    std::string html = renderHtmlReport(oneRunReport(run));
    EXPECT_NE(html.find("(no conntrack entry)"), std::string::npos);
    EXPECT_NE(html.find("No such file &lt;or&gt; directory"), std::string::npos);

    internals["nat"] = {{"present", false}, {"tracked", true}, {"entry", "tcp 6 src=192.0.2.2"}};
    html = renderHtmlReport(oneRunReport(run));
    EXPECT_NE(html.find("(tracked, not rewritten)"), std::string::npos);
    EXPECT_NE(html.find("tcp 6 src=192.0.2.2"), std::string::npos);
}

TEST(HtmlReport, LadderIsCappedWithANoteOnTheRest) {
    Json run = makeRun("long", "long", "x", "y", false, "r");
    Json ladder = Json::array();
    for (int i = 0; i < 100; ++i) {
        ladder.push_back(packet(i * 0.1, "client", "gateway", "ACK", 0));
    }
    run["flows"][0]["ladder"] = ladder;
    std::string html = renderHtmlReport(oneRunReport(run));
    EXPECT_EQ(countOf(html, "<g class=\"arrow"), 60u);
    EXPECT_NE(html.find("40 more packets not drawn"), std::string::npos);
}

TEST(HtmlReport, ComparisonTableAppearsOnlyWithTwoOrMoreRuns) {
    std::string two = renderHtmlReport(twoRunReport());
    EXPECT_NE(two.find("<section class=\"compare\">"), std::string::npos);
    for (const char* row : {"client sent to", "gateway inbound saw", "accepted socket local",
                            "recovered by", "NAT mapping", "server saw"}) {
        EXPECT_NE(two.find(row), std::string::npos) << row;
    }
    std::string one = renderHtmlReport(oneRunReport(twoRunReport()["runs"][0]));
    EXPECT_EQ(one.find("<section class=\"compare\">"), std::string::npos);
}

TEST(HtmlReport, MalformedModelsRenderAPageInsteadOfThrowing) {
    for (const Json& model :
         {Json::object(), Json(nullptr), Json{{"runs", "not an array"}},
          Json{{"runs", Json::array({Json::object(), Json(42)})}},
          Json{{"runs",
                Json::array({{{"flows", Json::array({{{"hops", nullptr},
                                                      {"ladder", Json::array({1, 2})}}})}}})}}}) {
        std::string html;
        ASSERT_NO_THROW(html = renderHtmlReport(model)) << model.dump();
        EXPECT_NE(html.find("</html>"), std::string::npos);
    }
}

TEST(HtmlReport, ClosingScriptMarksThePageRenderedForTheBrowserCheck) {
    std::string html = renderHtmlReport(twoRunReport());
    EXPECT_NE(html.find("document.body.dataset.rendered = \"ok\""), std::string::npos);
    EXPECT_NE(html.find("document.title = \"tplab report: ok\""), std::string::npos);
    EXPECT_LT(html.find("document.body.dataset"), html.find("</body>"));
}

#ifdef TPLAB_SAMPLE_REPORT
TEST(HtmlReport, ShippedBrowserSampleRendersBothRuns) {
    std::ifstream in(TPLAB_SAMPLE_REPORT);
    ASSERT_TRUE(in) << TPLAB_SAMPLE_REPORT;
    std::string html = renderHtmlReport(Json::parse(in));
    EXPECT_EQ(countOf(html, "<section class=\"run\""), 2u);
    EXPECT_EQ(countOf(html, "<svg class=\"ladder\""), 2u);
    // The browser check (tests/browser/check_html.sh) opens this page in a headless Chromium.
    if (const char* out = std::getenv("TPLAB_SAMPLE_HTML_OUT")) {
        std::ofstream(out) << html;
    }
}
#endif

}  // namespace
}  // namespace tplab
