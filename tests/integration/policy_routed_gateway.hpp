// A gateway that intercepts by policy routing alone (AnyIP, sk-lookup), IPv4, for the tests that
// look at what the kernel holds there: no netfilter rule, no conntrack entry.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "gateway_lab.hpp"

namespace tplab::test {

class PolicyRoutedGateway : public ::testing::Test {
  protected:
    explicit PolicyRoutedGateway(std::string mode) : mode_(std::move(mode)) {}
    void SetUp() override {
        if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        lab = std::make_unique<GatewayLab>(mode_, Family::Ipv4);
    }
    void TearDown() override {
        if (lab && HasFailure()) {
            std::cerr << "proxy log:\n" << lab->proxyLog();
        }
    }
    CommandResult curlIndex() {
        return lab->net().exec(lab->net().client(),
                               "curl -sS --max-time 3 http://198.51.100.2/index.html");
    }
    // No iptables, ip6tables or nft rule; and since no rule needs conntrack, the namespace has
    // none: a relayed flow leaves no entry.
    void expectNoNetfilterState() {
        const std::string& gw = lab->net().gateway();
        auto rules = lab->net().exec(gw, "iptables-save; ip6tables-save; nft list ruleset");
        EXPECT_EQ(rules.output.find("-A "), std::string::npos) << rules.output;
        EXPECT_EQ(rules.output.find("chain "), std::string::npos) << rules.output;
        auto tracked = lab->net().exec(gw, "conntrack -C");
        EXPECT_EQ(tracked.exitCode, 0) << tracked.output;
        EXPECT_EQ(tracked.output, "0\n");
    }
    std::unique_ptr<GatewayLab> lab;

  private:
    std::string mode_;
};

}  // namespace tplab::test
