// Everything a client sends is data: bytes that are not UTF-8, control characters and newlines
// in a SOCKS5 name, a user name or an HTTP request line reach the events, the log and the
// reports escaped, never as a failure and never as raw terminal input.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "events_json.hpp"
#include "html_report.hpp"
#include "log.hpp"
#include "socks_handshake.hpp"
#include "text_escape.hpp"
#include "text_report.hpp"

namespace tplab {
namespace {

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) {
        out.push_back(static_cast<char>(v));
    }
    return out;
}

// The byte sequences a client can put in a name: a stray byte, a cut multi-byte sequence, an
// overlong '/', a surrogate, a newline, an ESC sequence, a C1 CSI.
const std::string kBadNames[] = {
    "a\xff"
    "b",
    "caf\xc3",
    "\xe2\x82",
    "\xc0\xaf",
    "\xed\xa0\x80",
    "x\ny",
    "\x1b[31mred",
    "\xc2\x9b"
    "2J",
};

TEST(TextEscape, Utf8ValidationFollowsTheWellFormedTable) {
    EXPECT_TRUE(isValidUtf8("plain"));
    EXPECT_TRUE(isValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    EXPECT_FALSE(isValidUtf8("\xff"));
    EXPECT_FALSE(isValidUtf8("caf\xc3"));           // cut short
    EXPECT_FALSE(isValidUtf8("\xc0\xaf"));          // overlong
    EXPECT_FALSE(isValidUtf8("\xed\xa0\x80"));      // surrogate
    EXPECT_FALSE(isValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(TextEscape, InvalidBytesAreEscapedReversibly) {
    for (const std::string& name : kBadNames) {
        std::string escaped = escapeInvalidUtf8(name + "\\x41\\");
        EXPECT_TRUE(isValidUtf8(escaped)) << escaped;
        EXPECT_EQ(unescapeBytes(escaped), name + "\\x41\\") << escaped;
    }
    EXPECT_EQ(escapeInvalidUtf8("a\xff"
                                "b\\"),
              "a\\xffb\\\\");
}

TEST(TextEscape, DisplayTextHasNoControlCharacterAndStaysOneLine) {
    EXPECT_EQ(escapeForDisplay("a\xff"
                               "b"),
              "a\\xffb");
    EXPECT_EQ(escapeForDisplay("x\ny\r\t"), "x\\ny\\r\\t");
    EXPECT_EQ(escapeForDisplay("\x1b[31mred\x7f"), "\\x1b[31mred\\x7f");
    EXPECT_EQ(escapeForDisplay("\xc2\x9b"
                               "2J"),
              "\\xc2\\x9b2J");
    EXPECT_EQ(escapeForDisplay("caf\xc3\xa9"), "caf\xc3\xa9");
    EXPECT_EQ(escapeForDisplay("two\nlines\tand\x1b", true), "two\nlines\tand\\x1b");
}

// A closed event's detail and an accepted event's requested_host carry what the client wrote.
TEST(EventsWithClientBytes, EveryInvalidStringIsEscapedAndNamedAndTheLineParses) {
    for (const std::string& name : kBadNames) {
        DestinationLookup lookup;
        lookup.method = "SOCKS5 request";
        lookup.failure = "getaddrinfo(" + name + "): no such name";
        Json accepted = acceptedEvent(1, "socks5", Endpoint::parse("192.0.2.2:40000"),
                                      Endpoint::parse("192.0.2.1:1080"),
                                      Endpoint::parse("192.0.2.1:1080"), lookup);
        accepted["requested_host"] = name;
        Json closed = closedEvent(1, CloseReason::HandshakeFailed, 0, 0, 1.5,
                                  "SOCKS5: authentication failed for user '" + name + "'");
        for (const Json& event : {accepted, closed}) {
            std::string line;
            ASSERT_NO_THROW(line = eventLine(event)) << name;
            ASSERT_TRUE(isValidUtf8(line));
            ASSERT_EQ(line.back(), '\n');
            EXPECT_EQ(line.find('\n'), line.size() - 1) << "one event, one line";
            Json back = Json::parse(line);
            for (auto& [key, value] : event.items()) {
                if (!value.is_string()) {
                    continue;
                }
                const auto& original = value.get_ref<const std::string&>();
                bool named = back.contains("escaped") &&
                             std::find(back["escaped"].begin(), back["escaped"].end(), key) !=
                                 back["escaped"].end();
                EXPECT_EQ(named, !isValidUtf8(original)) << key << " of " << line;
                std::string text = back[key].get<std::string>();
                EXPECT_EQ(named ? unescapeBytes(text) : text, original) << key << " of " << line;
            }
        }
    }
}

TEST(EventsWithClientBytes, ValidTextIsWrittenAsItIsWithNoEscapedField) {
    Json closed = closedEvent(1, CloseReason::HandshakeFailed, 0, 0, 1.5, "user 'caf\xc3\xa9\\'");
    Json back = Json::parse(eventLine(closed));
    EXPECT_EQ(back["detail"], "user 'caf\xc3\xa9\\'");
    EXPECT_FALSE(back.contains("escaped"));
}

TEST(LogWithClientBytes, ANewlineCannotForgeALineAndEscapeSequencesAreShown) {
    testing::internal::CaptureStderr();
    log::warn("SOCKS5 name 'evil\ntplab: error: forged' user '\x1b]0;owned\x07\xff'");
    std::string written = testing::internal::GetCapturedStderr();
    EXPECT_EQ(written,
              "tplab: warning: SOCKS5 name 'evil\\ntplab: error: forged' user "
              "'\\x1b]0;owned\\x07\\xff'\n");
}

TEST(ReportWithClientBytes, SocksNamesAndUsersAreDecodedAsPrintableUtf8) {
    std::string name = "evil\xff\x1b[2J\nhost";
    std::string client = bytes({0x05, 0x01, 0x02, 0x01, 0x04}) + "u\xff\x1b\n" + bytes({0x01}) +
                         "p" + bytes({0x05, 0x01, 0x00, 0x03, static_cast<int>(name.size())}) +
                         name + bytes({0x00, 0x50});
    auto request = describeProxyRequest(client);
    ASSERT_TRUE(request);
    EXPECT_EQ(*request, "SOCKS5 CONNECT evil\\xff\\x1b[2J\\nhost:80 (user 'u\\xff\\x1b\\n')");
    ProxyExchange exchange = decodeProxyHandshake(client, bytes({0x05, 0x02, 0x01, 0x00}));
    ASSERT_FALSE(exchange.messages.empty());
    for (const auto& message : exchange.messages) {
        EXPECT_EQ(escapeForDisplay(message.meaning), message.meaning);
        EXPECT_EQ(escapeForDisplay(message.shown), message.shown);
    }
    Json report = {{"exchange", exchange.request}};
    EXPECT_NO_THROW((void)report.dump()) << "tplab report --json";
}

TEST(ReportWithClientBytes, AnHttpStatusLineIsShownEscaped) {
    ProxyExchange exchange = decodeProxyHandshake("CONNECT server.test:443 HTTP/1.1\r\n\r\n",
                                                  "HTTP/1.1 200 \x1b[2J\xff\r\n\r\n");
    ASSERT_EQ(exchange.messages.size(), 2u);
    EXPECT_EQ(exchange.messages[1].shown, "HTTP/1.1 200 \\x1b[2J\\xff");
}

// A model shaped like `tplab report` output, whose strings came from a client (through
// events.jsonl or a capture): the requested name, the lookup error that quotes it.
Json reportWithAClientsName(const std::string& name) {
    Json hop = {{"point", "client:eth0"},          {"seen", true},  {"source", "192.0.2.2:41778"},
                {"destination", "192.0.2.1:1080"}, {"packets", 10}, {"source_changed", false},
                {"destination_changed", false}};
    Json packet = {{"time_ms", 0.0},
                   {"point", "client:eth0"},
                   {"from", "client"},
                   {"to", "gateway"},
                   {"source", "192.0.2.2:41778"},
                   {"destination", name},
                   {"flags", "PSH,ACK"},
                   {"payload", 20}};
    Json flow = {{"client", "192.0.2.2:41778"},
                 {"intended", name + ":80"},
                 {"hops", Json::array({hop})},
                 {"internals",
                  {{"accepted_local", "192.0.2.1:1080"},
                   {"original_dst", nullptr},
                   {"recovered_by", "SOCKS5 request"},
                   {"lookup_error", "getaddrinfo(" + name + "): no such name"},
                   {"upstream_local", nullptr},
                   {"server_saw", nullptr},
                   {"nat", {{"present", false}, {"entry", nullptr}}},
                   {"rules", Json::array()},
                   {"socket", nullptr}}},
                 {"ladder", Json::array({packet})}};
    Json run = {
        {"name", "socks5"},
        {"title", "SOCKS5 " + name},
        {"lab", "explicit"},
        {"mode", "socks5"},
        {"family", "ipv4"},
        {"lanes", Json::array({"client", "gateway", "server"})},
        {"points", Json::array({{{"label", "client:eth0"}, {"between", {"client", "gateway"}}}})},
        {"flows", Json::array({flow})}};
    return {{"generated", "2026-11-25T05:00:00Z"}, {"runs", Json::array({run})}};
}

TEST(ReportWithClientBytes, TextAndHtmlNeverCarryAClientsEscOrInvalidBytes) {
    Json report = reportWithAClientsName("evil\x1b[2J\x1b]0;owned\x07\xc2\x9b");
    for (const std::string& page : {renderTextReport(report), renderHtmlReport(report)}) {
        EXPECT_EQ(page.find('\x1b'), std::string::npos);
        EXPECT_EQ(page.find('\x07'), std::string::npos);
        EXPECT_EQ(page.find("\xc2\x9b"), std::string::npos);
        EXPECT_TRUE(isValidUtf8(page));
        EXPECT_NE(page.find("evil\\x1b[2J"), std::string::npos);
    }
    // Bytes that are not UTF-8 in a model built by hand: shown, not passed on.
    Json invalid = reportWithAClientsName("evil\xff\xfe");
    EXPECT_TRUE(isValidUtf8(renderTextReport(invalid)));
    EXPECT_TRUE(isValidUtf8(renderHtmlReport(invalid)));
}

}  // namespace
}  // namespace tplab
