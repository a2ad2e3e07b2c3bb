// Full transparency: with --spoof-source the server sees the client's own address, in both
// modes and both families, while the bytes still arrive intact.
#include <gtest/gtest.h>

#include <memory>

#include "gateway_lab.hpp"

namespace tplab::test {
namespace {

struct SpoofCase {
    std::string mode;
    Family family;
};

class SpoofSource : public ::testing::TestWithParam<SpoofCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        lab = std::make_unique<GatewayLab>(GetParam().mode, GetParam().family, true);
    }
    std::unique_ptr<GatewayLab> lab;
};

TEST_P(SpoofSource, ServerSeesTheClientsOwnAddress) {
    const auto& at = lab->addresses();
    std::string downloaded = lab->workdir() + "/downloaded.bin";
    auto curl = lab->net().exec(lab->net().client(),
                                "curl -sS --max-time 20 -o " + downloaded + " http://" +
                                    withPort(at.server, kHttpPort) + "/blob.bin");
    ASSERT_EQ(curl.exitCode, 0) << curl.output << lab->proxyLog();
    EXPECT_EQ(lab->sha256(downloaded), lab->sha256(lab->blobPath()));

    auto connected = lab->events("connected", 1);
    ASSERT_EQ(connected.size(), 1u);
    EXPECT_EQ(connected[0]["upstream_local"].get<std::string>().rfind(urlHost(at.client) + ":", 0),
              0u)
        << "the upstream socket carries the client's address: " << connected[0];
    // python's http.server logs its peer first on each line ("::ffff:192.0.2.2 - - [...] GET").
    std::string log = lab->httpServerLog();
    std::string expected = GetParam().family == Family::Ipv4 ? "::ffff:" + at.client : at.client;
    EXPECT_NE(log.find(expected + " - - "), std::string::npos) << log;
    EXPECT_EQ(log.find(at.gatewayServerSide + " - - "), std::string::npos)
        << "the server must not see the gateway: " << log;
}

INSTANTIATE_TEST_SUITE_P(
    , SpoofSource,
    ::testing::Values(SpoofCase{"redirect", Family::Ipv4}, SpoofCase{"redirect", Family::Ipv6},
                      SpoofCase{"tproxy", Family::Ipv4}, SpoofCase{"tproxy", Family::Ipv6}),
    [](const auto& testCase) {
        return testCase.param.mode + (testCase.param.family == Family::Ipv4 ? "_ipv4" : "_ipv6");
    });

}  // namespace
}  // namespace tplab::test

namespace tplab::test {
namespace {

// The pitfall the doctor's src_valid_mark finding is about, reproduced: with src_valid_mark=1
// the spoofed replies are checked against the marked route (`local`), dropped as martians, and
// the client times out; with 0 they are delivered.
TEST(SpoofSourcePitfall, SrcValidMarkDropsSpoofedRepliesAsMartians) {
    if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    GatewayLab lab("redirect", Family::Ipv4, true);
    auto curl = [&] {
        return lab.net().exec(lab.net().client(),
                              "curl -sS --max-time 2 http://198.51.100.2/index.html");
    };
    EXPECT_EQ(curl().output, "served by server\n");
    lab.net().mustExec(lab.net().gateway(), "sysctl -qw net.ipv4.conf.all.src_valid_mark=1");
    EXPECT_NE(curl().exitCode, 0) << "the spoofed replies should have been dropped";
    auto doctor =
        lab.net().exec(lab.net().gateway(), std::string(TPLAB_BINARY) + " doctor --spoof-source");
    EXPECT_EQ(doctor.exitCode, 3) << doctor.output;
    EXPECT_NE(doctor.output.find("src_valid_mark.veth-s"), std::string::npos) << doctor.output;
    lab.net().mustExec(lab.net().gateway(), "sysctl -qw net.ipv4.conf.all.src_valid_mark=0");
    EXPECT_EQ(curl().output, "served by server\n");
}

}  // namespace
}  // namespace tplab::test
