// Everything a client sends is data: each byte sequence that once stopped a worker (bytes that
// are not UTF-8 in a SOCKS5 name, an RFC 1929 user name, an HTTP CONNECT authority, a Basic
// credential) goes through a real tplab proxy --events with one and two workers; each becomes a
// `closed` event in a file of valid JSON Lines, and normal clients are served afterwards.
// Also: a SOCKS5 greeting cut short then reset frees its slot at once, and an HTTP request
// with LF-only lines is answered 400 at once.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>

#include "gateway_lab.hpp"

namespace tplab::test {
namespace {

struct BytesCase {
    std::string mode;
    int workers;
};

std::string caseName(const ::testing::TestParamInfo<BytesCase>& info) {
    return (info.param.mode == "http-connect" ? std::string("http_connect") : info.param.mode) +
           "_" + std::to_string(info.param.workers) + "_workers";
}

std::string hex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string base64(const std::string& bytes) {
    static const char* alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        unsigned chunk = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size())
            chunk |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        if (i + 2 < bytes.size())
            chunk |= static_cast<unsigned char>(bytes[i + 2]);
        out += alphabet[(chunk >> 18) & 63];
        out += alphabet[(chunk >> 12) & 63];
        out += i + 1 < bytes.size() ? alphabet[(chunk >> 6) & 63] : '=';
        out += i + 2 < bytes.size() ? alphabet[chunk & 63] : '=';
    }
    return out;
}

std::string socksName(const std::string& name) {
    return std::string("\x05\x01\x00\x03", 4) + static_cast<char>(name.size()) + name +
           std::string("\x00\x50", 2);
}

const std::string kLogin = std::string("\x05\x01\x02\x01\x05", 5) + "alice\x06s3cret";

// Each sequence a stranger can send before any login, and after one.
std::vector<std::string> badSequences(const std::string& mode) {
    if (mode == "socks5") {
        return {
            std::string("\x05\x01\x02\x01\x04u\xff\n\x1b\x01p", 11),  // RFC 1929 user name
            kLogin + socksName("a\xff"
                               "b.test"),                      // ATYP 3 name
            kLogin + socksName("caf\xc3"),                     // cut multi-byte sequence
            kLogin + socksName("evil\ntplab: error: forged"),  // a forged log line
        };
    }
    std::string auth = "Proxy-Authorization: Basic " + base64("alice:s3cret") + "\r\n";
    return {
        "CONNECT a\xff"
        "b:80 HTTP/1.1\r\n" +
            auth + "\r\n",                                                  // the authority
        "CONNECT caf\xc3:80 HTTP/1.1\r\n" + auth + "\r\n",                  // cut sequence
        "CONNECT \xff\x1b[2J HTTP/1.1\r\n" + auth + "\r\n",                 // the request line
        "CONNECT server.test:80 HTTP/1.1\r\nProxy-Authorization: Basic " +  // the credential
            base64("\xff\x1b]0;x\x07:pw") + "\r\n\r\n",
    };
}

class ClientBytes : public ::testing::TestWithParam<BytesCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        char dir[] = "/tmp/tplab-it-bytes-XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        passwordDir = dir;
        writePasswordFile(passwordDir, "s3cret");
        lab = std::make_unique<GatewayLab>(
            GetParam().mode, Family::Ipv4, false,
            ProxyLaunch{{},
                        {"--workers", std::to_string(GetParam().workers), "--socks-user", "alice",
                         "--socks-password-file", passwordDir + "/password"}});
    }
    void TearDown() override {
        if (lab && HasFailure()) {
            std::cerr << "proxy log:\n" << lab->proxyLog();
        }
        lab.reset();
        if (!passwordDir.empty()) {
            runShell("rm -rf " + passwordDir);
        }
    }
    std::string send(const std::string& bytes, const std::string& flags = "") {
        const Addresses& at = lab->addresses();
        return lab->net()
            .exec(lab->net().client(),
                  std::string(TPLAB_TEST_TOOLS) + "/raw_client.py " + at.gatewayClientSide + " " +
                      std::to_string(kExplicitPort) + " " + hex(bytes) + " " + flags)
            .output;
    }
    CommandResult download(const std::string& output) {
        const Addresses& at = lab->addresses();
        std::string proxy = withPort(at.gatewayClientSide, kExplicitPort);
        std::string via = GetParam().mode == "socks5" ? "--socks5 " + proxy
                                                      : "--proxytunnel --proxy http://" + proxy;
        return lab->net().exec(lab->net().client(),
                               "curl -sS --max-time 10 " + via + " --proxy-user alice:s3cret -o " +
                                   output + " http://" + withPort(at.server, kHttpPort) +
                                   "/blob.bin");
    }
    // Every line of the events file, parsed strictly (nlohmann rejects text that is not UTF-8).
    std::vector<nlohmann::json> allEventLines() {
        std::vector<nlohmann::json> lines;
        std::ifstream in(lab->workdir() + "/events.jsonl");
        for (std::string line; std::getline(in, line);) {
            try {
                lines.push_back(nlohmann::json::parse(line));
            } catch (const nlohmann::json::exception& error) {
                ADD_FAILURE() << "not a JSON line (" << error.what() << "): " << line;
            }
        }
        return lines;
    }

    std::string passwordDir;
    std::unique_ptr<GatewayLab> lab;
};

TEST_P(ClientBytes, EachBadSequenceIsAnEventAndTheProxyServesOn) {
    auto sequences = badSequences(GetParam().mode);
    for (const auto& bytes : sequences) {
        std::string answer = send(bytes);
        EXPECT_NE(answer, "timeout\n") << hex(bytes);
    }
    auto closed = lab->events("closed", sequences.size());
    ASSERT_EQ(closed.size(), sequences.size()) << lab->proxyLog();
    for (const auto& event : closed) {
        EXPECT_NE(event["reason"], "connect_timeout") << event;
    }
    // Several clients, so that with two workers both SO_REUSEPORT listeners are tried.
    for (int i = 0; i < 4; ++i) {
        std::string downloaded = lab->workdir() + "/downloaded.bin";
        auto result = download(downloaded);
        ASSERT_EQ(result.exitCode, 0) << "client " << i << ": " << result.output;
        EXPECT_EQ(lab->sha256(downloaded), lab->sha256(lab->blobPath()));
    }
    EXPECT_EQ(lab->proxy().wait(std::chrono::milliseconds(0)), -1) << "the proxy must still run";
    auto lines = allEventLines();
    EXPECT_GE(lines.size(), sequences.size() + 4 * 3);
    std::size_t escaped = 0;
    for (const auto& line : lines) {
        escaped += line.contains("escaped") ? 1 : 0;
    }
    EXPECT_GE(escaped, 3u) << "the bytes that are not UTF-8 must be named as escaped";
}

class Socks5Bytes : public ClientBytes {};
class HttpConnectBytes : public ClientBytes {};

TEST_P(Socks5Bytes, AGreetingCutShortThenResetFreesItsSlotAtOnce) {
    EXPECT_EQ(send(std::string("\x05\x05\x00", 3), "--reset"), "sent, reset\n");
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_NE(closed[0]["reason"], "connect_timeout") << closed[0];
    // The connect timeout (5 s) bounded it before; now the RST ends it.
    EXPECT_LT(closed[0]["duration_ms"].get<double>(), 2500.0) << closed[0];
}

TEST_P(HttpConnectBytes, ARequestWithLfOnlyLinesIsAnswered400AtOnce) {
    std::string answer = send("CONNECT server.test:80 HTTP/1.1\nHost: server.test:80\n\n");
    EXPECT_EQ(answer.rfind("answer " + hex("HTTP/1.1 400 Bad Request\r\n"), 0), 0u) << answer;
    auto closed = lab->events("closed", 1);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["reason"], "handshake_failed") << closed[0];
    EXPECT_LT(closed[0]["duration_ms"].get<double>(), 2500.0) << closed[0];
}

INSTANTIATE_TEST_SUITE_P(, ClientBytes,
                         ::testing::Values(BytesCase{"socks5", 1}, BytesCase{"socks5", 2},
                                           BytesCase{"http-connect", 1},
                                           BytesCase{"http-connect", 2}),
                         caseName);
INSTANTIATE_TEST_SUITE_P(, Socks5Bytes,
                         ::testing::Values(BytesCase{"socks5", 1}, BytesCase{"socks5", 2}),
                         caseName);
INSTANTIATE_TEST_SUITE_P(, HttpConnectBytes,
                         ::testing::Values(BytesCase{"http-connect", 1},
                                           BytesCase{"http-connect", 2}),
                         caseName);

}  // namespace
}  // namespace tplab::test
