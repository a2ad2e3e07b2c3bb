// --send-proxy against a real nginx that reads the PROXY protocol (listen ... proxy_protocol):
// nginx logs the client's address from the header next to the address the connection came
// from (the gateway), for both versions, both families, and a transparent and an explicit mode.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "gateway_lab.hpp"

namespace tplab::test {
namespace {

constexpr int kNginxPort = kLoadPort;  // intercepted by the lab's rules; nothing else listens there

struct ProxyProtocolCase {
    std::string mode;
    std::string version;
    Family family;
};

// gtest prints a failing case's parameter with this, instead of a dump of its bytes.
[[maybe_unused]] void PrintTo(const ProxyProtocolCase& c, std::ostream* out) {
    *out << c.mode << " " << c.version << (c.family == Family::Ipv4 ? " ipv4" : " ipv6");
}

class SendProxy : public ::testing::TestWithParam<ProxyProtocolCase> {
  protected:
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        lab = std::make_unique<GatewayLab>(GetParam().mode, GetParam().family, false,
                                           ProxyLaunch{{}, {"--send-proxy", GetParam().version}});
        const std::string dir = lab->workdir() + "/nginx";
        std::filesystem::create_directories(dir + "/www");
        std::ofstream(dir + "/www/index.html") << "served by nginx\n";
        std::ofstream(dir + "/nginx.conf")
            << "user root;\ndaemon off;\nworker_processes 1;\npid " << dir << "/nginx.pid;\n"
            << "error_log " << dir << "/error.log warn;\nevents { worker_connections 64; }\n"
            << "http {\n  log_format pp '$proxy_protocol_addr $proxy_protocol_port "
            << "$remote_addr';\n  access_log " << dir << "/access.log pp;\n"
            << "  client_body_temp_path " << dir << ";\n"
            << "  server {\n    listen [::]:" << kNginxPort << " ipv6only=off proxy_protocol;\n"
            << "    root " << dir << "/www;\n  }\n}\n";
        nginx = lab->net().spawn(
            lab->net().server(),
            {"nginx", "-p", dir, "-c", dir + "/nginx.conf", "-e", dir + "/error.log"},
            dir + "/nginx.log");
        ASSERT_TRUE(lab->net().waitListening(lab->net().server(), kNginxPort));
        accessLog = dir + "/access.log";
    }
    void TearDown() override { nginx.stop(); }
    std::string accessLogText() const {
        std::ifstream in(accessLog);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    std::unique_ptr<GatewayLab> lab;
    Process nginx;
    std::string accessLog;
};

TEST_P(SendProxy, NginxLogsTheClientFromTheHeaderAndTheGatewayAsPeer) {
    const auto& at = lab->addresses();
    const std::string url = "http://" + withPort(at.server, kNginxPort) + "/index.html";
    const bool explicitMode = GetParam().mode == "socks5";
    const std::string proxyOption =
        explicitMode ? "--proxy socks5://" + withPort(at.gatewayClientSide, kExplicitPort) + " "
                     : "";
    auto curl = lab->net().exec(lab->net().client(), "curl -sS --max-time 10 " + proxyOption +
                                                         "-w ' %{local_port}' " + url);
    ASSERT_EQ(curl.exitCode, 0) << curl.output << lab->proxyLog();
    const std::string clientPort = curl.output.substr(curl.output.rfind(' ') + 1);
    EXPECT_EQ(curl.output.substr(0, curl.output.find('\n') + 1), "served by nginx\n");
    lab->events("closed", 1);
    std::string line;
    for (int attempt = 0; attempt < 50 && line.empty(); ++attempt) {
        std::istringstream text(accessLogText());
        std::getline(text, line);
        if (line.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    // $proxy_protocol_addr $proxy_protocol_port $remote_addr: the client, from the header; the
    // connection itself came from the gateway (IPv4-mapped: nginx listens on [::], dual-stack).
    const std::string peer =
        GetParam().family == Family::Ipv4 ? "::ffff:" + at.gatewayServerSide : at.gatewayServerSide;
    EXPECT_EQ(line, at.client + " " + clientPort + " " + peer) << accessLogText();
}

std::vector<ProxyProtocolCase> cases() {
    std::vector<ProxyProtocolCase> all;
    for (const char* version : {"v1", "v2"}) {
        for (Family family : {Family::Ipv4, Family::Ipv6}) {
            all.push_back({"tproxy", version, family});
        }
    }
    all.push_back({"redirect", "v2", Family::Ipv4});
    all.push_back({"socks5", "v1", Family::Ipv4});
    return all;
}

INSTANTIATE_TEST_SUITE_P(, SendProxy, ::testing::ValuesIn(cases()), [](const auto& testCase) {
    return testCase.param.mode + "_" + testCase.param.version +
           (testCase.param.family == Family::Ipv4 ? "_ipv4" : "_ipv6");
});

}  // namespace
}  // namespace tplab::test
