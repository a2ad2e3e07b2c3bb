// The report's decoder of a client's first bytes to an explicit proxy.
#include <gtest/gtest.h>

#include "socks_handshake.hpp"

namespace tplab {
namespace {

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) {
        out.push_back(static_cast<char>(v));
    }
    return out;
}

TEST(SocksHandshakeDecoder, TheIssuesExampleIsConnectTo198_51_100_2Port80) {
    EXPECT_EQ(describeProxyRequest(bytes(
                  {0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01, 0xc6, 0x33, 0x64, 0x02, 0x00, 0x50})),
              "SOCKS5 CONNECT 198.51.100.2:80");
}

TEST(SocksHandshakeDecoder, NamesAuthenticationAndHttpConnectAreDecoded) {
    std::string withAuth = bytes({0x05, 0x01, 0x02, 0x01, 0x05}) + "alice" + bytes({0x02}) + "pw" +
                           bytes({0x05, 0x01, 0x00, 0x03, 0x0b}) + "server.test" +
                           bytes({0x00, 0x50});
    EXPECT_EQ(describeProxyRequest(withAuth), "SOCKS5 CONNECT server.test:80 (user 'alice')");
    EXPECT_EQ(describeProxyRequest("CONNECT [2001:db8:2::2]:443 HTTP/1.1\r\n\r\n"),
              "HTTP CONNECT [2001:db8:2::2]:443");
}

TEST(SocksHandshakeDecoder, IncompleteOrOtherBytesAreNotDecoded) {
    EXPECT_FALSE(describeProxyRequest(bytes({0x05, 0x01, 0x00, 0x05, 0x01})));
    EXPECT_FALSE(describeProxyRequest("GET / HTTP/1.1\r\n\r\n"));
    EXPECT_FALSE(describeProxyRequest(""));
}

}  // namespace
}  // namespace tplab
