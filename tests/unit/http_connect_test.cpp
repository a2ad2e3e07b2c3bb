// The HTTP CONNECT parser: the request, its authority, Basic authentication, and bad input.
#include <gtest/gtest.h>

#include <string>

#include "http_connect.hpp"

namespace tplab {
namespace {

using Status = HandshakeStep::Status;

TEST(HttpConnect, ConnectRequestGivesTheDestinationAndConsumesOnlyTheHead) {
    HttpConnectHandshake server(std::nullopt);
    std::string head = "CONNECT 198.51.100.2:80 HTTP/1.1\r\nHost: 198.51.100.2:80\r\n\r\n";
    auto step = server.onClientBytes(head + "GET / HTTP/1.1\r\n");
    ASSERT_EQ(step.status, Status::Done);
    EXPECT_EQ(step.consumed, head.size());
    EXPECT_EQ(step.request.address->toString(), "198.51.100.2:80");
    for (std::size_t n = 0; n < head.size(); ++n) {
        HttpConnectHandshake fresh(std::nullopt);
        EXPECT_EQ(fresh.onClientBytes(head.substr(0, n)).status, Status::NeedMore) << n;
    }
}

TEST(HttpConnect, Ipv6AndNamesAreParsed) {
    auto v6 = parseAuthority("[2001:db8:2::2]:443");
    ASSERT_TRUE(v6 && v6->address);
    EXPECT_EQ(v6->address->toString(), "[2001:db8:2::2]:443");
    auto name = parseAuthority("server.test:8080");
    ASSERT_TRUE(name);
    EXPECT_EQ(name->host, "server.test");
    EXPECT_EQ(name->port, 8080);
    for (const char* bad :
         {"server.test", ":80", "server.test:", "server.test:0", "server.test:65536",
          "[2001:db8::2:80", "[nonsense]:80", "a b:80", "server.test:80x"}) {
        EXPECT_FALSE(parseAuthority(bad)) << bad;
    }
}

TEST(HttpConnect, BadRequestsGetTheirStatus) {
    struct Case {
        std::string request;
        std::string status;
    };
    for (const auto& c :
         {Case{"GET http://198.51.100.2/ HTTP/1.1\r\n\r\n", "405"},
          Case{"CONNECT 198.51.100.2:80 HTTP/2.0\r\n\r\n", "505"},
          Case{"CONNECT nonsense HTTP/1.1\r\n\r\n", "400"}, Case{"garbage\r\n\r\n", "400"}}) {
        HttpConnectHandshake server(std::nullopt);
        auto step = server.onClientBytes(c.request);
        EXPECT_EQ(step.status, Status::Fail) << c.request;
        EXPECT_EQ(step.reply.substr(0, 12), "HTTP/1.1 " + c.status) << c.request;
    }
}

// Without CRLF CRLF the parser would wait for the connect timeout; a bare LF is answered now.
TEST(HttpConnect, LinesEndingInLfOnlyAreAnswered400AtOnce) {
    for (std::string request :
         {"CONNECT 198.51.100.2:80 HTTP/1.1\n\n", "CONNECT 198.51.100.2:80 HTTP/1.1\n",
          "CONNECT 198.51.100.2:80 HTTP/1.1\r\nHost: x\n\r\n", "\n"}) {
        HttpConnectHandshake server(std::nullopt);
        auto step = server.onClientBytes(request);
        EXPECT_EQ(step.status, Status::Fail) << request;
        EXPECT_EQ(step.reply.substr(0, 12), "HTTP/1.1 400") << request;
    }
    HttpConnectHandshake server(std::nullopt);
    auto step = server.onClientBytes("CONNECT 198.51.100.2:80 HTTP/1.1\r\n\r\nearly\nbytes\n");
    EXPECT_EQ(step.status, Status::Done) << "bytes after the head are the tunnel's, not ours";
}

TEST(HttpConnect, OversizedHeadIsAnsweredWith431) {
    HttpConnectHandshake server(std::nullopt);
    std::string head = "CONNECT 198.51.100.2:80 HTTP/1.1\r\nX: " + std::string(9000, 'a');
    auto step = server.onClientBytes(std::string_view(head).substr(0, server.maxMessage()));
    EXPECT_EQ(step.status, Status::Fail);
    EXPECT_EQ(step.reply.substr(0, 12), "HTTP/1.1 431");
}

TEST(HttpConnect, BasicProxyAuthenticationIsRequiredAndChecked) {
    HttpConnectHandshake server(Socks5Credentials{"alice", "s3cret"});
    std::string line = "CONNECT 198.51.100.2:80 HTTP/1.1\r\n";
    auto none = server.onClientBytes(line + "\r\n");
    EXPECT_EQ(none.reply.substr(0, 12), "HTTP/1.1 407");
    EXPECT_NE(none.reply.find("Proxy-Authenticate: Basic"), std::string::npos);
    // base64("alice:s3cret") and base64("alice:wrong")
    EXPECT_EQ(
        server.onClientBytes(line + "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n").status,
        Status::Done);
    auto wrong = server.onClientBytes(line + "proxy-authorization: basic YWxpY2U6d3Jvbmc=\r\n\r\n");
    EXPECT_EQ(wrong.status, Status::Fail);
    EXPECT_NE(wrong.failure.find("'alice'"), std::string::npos) << wrong.failure;
}

TEST(HttpConnect, BasicCredentialsMustBeExactlyOneCanonicalToken) {
    HttpConnectHandshake server(Socks5Credentials{"alice", "s3cret"});
    std::string line = "CONNECT 198.51.100.2:80 HTTP/1.1\r\nProxy-Authorization: ";
    auto good = server.onClientBytes(line + "Basic YWxpY2U6czNjcmV0\r\n\r\n");
    EXPECT_EQ(good.status, Status::Done);
    EXPECT_EQ(good.auth, HandshakeStep::Auth::Accepted);
    for (const char* header : {"Basic YWxpY2U6czNjcmV0 garbage", "Basic YWxpY2U6czNjcmV0=",
                               "Basic YWxpY2U6czNjcmV0=garbage", "Basic  YWxpY2U6czNjcmV0",
                               "Basic YWxpY2U6czNjcmV0,x", "Basic YWxpY2U"}) {
        auto step = server.onClientBytes(line + header + "\r\n\r\n");
        EXPECT_EQ(step.status, Status::Fail) << header;
        EXPECT_EQ(step.reply.substr(0, 12), "HTTP/1.1 400") << header;
        EXPECT_EQ(step.auth, HandshakeStep::Auth::Refused) << header;
    }
    auto wrong = server.onClientBytes(line + "Basic YWxpY2U6d3Jvbmc=\r\n\r\n");
    EXPECT_EQ(wrong.reply.substr(0, 12), "HTTP/1.1 407");
    EXPECT_EQ(wrong.auth, HandshakeStep::Auth::Refused);
    auto locked = server.refuseAuthentication(good, "locked out");
    EXPECT_EQ(locked.status, Status::Fail);
    EXPECT_EQ(locked.reply, wrong.reply) << "a locked-out client is told nothing new";
}

TEST(HttpConnect, RepliesNameTheOutcome) {
    HttpConnectHandshake server(std::nullopt);
    EXPECT_EQ(server.connectReply(ConnectOutcome::Succeeded, Endpoint()).substr(0, 12),
              "HTTP/1.1 200");
    EXPECT_EQ(server.connectReply(ConnectOutcome::Refused, Endpoint()).substr(0, 12),
              "HTTP/1.1 502");
    EXPECT_EQ(server.connectReply(ConnectOutcome::TimedOut, Endpoint()).substr(0, 12),
              "HTTP/1.1 504");
    EXPECT_EQ(decodeBase64("YWxpY2U6czNjcmV0"), "alice:s3cret");
    EXPECT_FALSE(decodeBase64("YWx*"));
    EXPECT_FALSE(decodeBase64("YWxpY2U"));   // not a whole group
    EXPECT_FALSE(decodeBase64("YR=="));      // pad bits set: "YQ==" is the spelling of "a"
    EXPECT_FALSE(decodeBase64("YQ==YQ=="));  // padding in the middle
    EXPECT_EQ(decodeBase64("YQ=="), "a");
}

}  // namespace
}  // namespace tplab
