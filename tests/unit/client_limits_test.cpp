// The shared counters behind --max-connections(-per-client) and the authentication lock-out.
#include <gtest/gtest.h>

#include "auth_throttle.hpp"
#include "client_limits.hpp"

namespace tplab {
namespace {

const Endpoint kGreedy = Endpoint::parse("192.0.2.2:40000");
const Endpoint kOther = Endpoint::parse("192.0.2.3:40000");

TEST(ConnectionBudget, OneClientGetsItsShareAndTheOthersTheRest) {
    ConnectionBudget budget(64, 8);
    int greedy = 0;
    for (int i = 0; i < 80; ++i) {
        ASSERT_TRUE(budget.reserve());
        greedy += budget.admit(kGreedy.withPort(static_cast<std::uint16_t>(40000 + i))) ? 1 : 0;
    }
    EXPECT_EQ(greedy, 8);
    EXPECT_EQ(budget.openFor(kGreedy), 8u);
    for (int i = 0; i < 8; ++i) {
        ASSERT_TRUE(budget.reserve());
        EXPECT_TRUE(budget.admit(kOther));
    }
}

TEST(ConnectionBudget, TheTotalIsOneCounterAndAReleaseWakesThePaused) {
    ConnectionBudget budget(2, 2);
    int woken = 0;
    budget.onRoomAgain([&] { ++woken; });
    ASSERT_TRUE(budget.reserve());
    ASSERT_TRUE(budget.admit(kGreedy));
    ASSERT_TRUE(budget.reserve());
    ASSERT_TRUE(budget.admit(kOther));
    EXPECT_TRUE(budget.full());
    EXPECT_FALSE(budget.reserve());
    budget.release(kGreedy);
    EXPECT_EQ(woken, 1);
    EXPECT_FALSE(budget.full());
    EXPECT_EQ(budget.openFor(kGreedy), 0u);
}

TEST(ConnectionBudget, IPv4MappedAndPlainAddressesAreOneClient) {
    ConnectionBudget budget(64, 1);
    ASSERT_TRUE(budget.reserve());
    ASSERT_TRUE(budget.admit(Endpoint::parse("[::ffff:192.0.2.2]:1")));
    ASSERT_TRUE(budget.reserve());
    EXPECT_FALSE(budget.admit(kGreedy));
}

TEST(ConnectionBudget, TheDefaultPerClientLimitIsAnEighth) {
    EXPECT_EQ(ConnectionBudget(4096).perClient(), 512u);
    EXPECT_EQ(ConnectionBudget(4).perClient(), 1u);
}

TEST(AuthThrottle, FailuresAreDelayedThenLockedOutAndOtherAddressesAreNot) {
    AuthThrottle throttle;
    auto now = Clock::now();
    for (int i = 1; i <= AuthThrottle::kLockoutFailures; ++i) {
        auto failure = throttle.failed(kGreedy, now);
        EXPECT_EQ(failure.failures, i);
        EXPECT_EQ(failure.delay > Clock::duration::zero(), i > AuthThrottle::kFreeFailures) << i;
        EXPECT_EQ(failure.lockoutStarted, i == AuthThrottle::kLockoutFailures) << i;
    }
    EXPECT_TRUE(throttle.lockedOut(kGreedy, now + AuthThrottle::kLockout / 2));
    EXPECT_FALSE(throttle.lockedOut(kOther, now));
    EXPECT_FALSE(throttle.lockedOut(kGreedy, now + AuthThrottle::kLockout));
    // After the lock-out the count starts again.
    EXPECT_EQ(throttle.failed(kGreedy, now + AuthThrottle::kLockout).failures, 1);
}

TEST(AuthThrottle, ASuccessForgetsTheFailures) {
    AuthThrottle throttle;
    auto now = Clock::now();
    for (int i = 0; i < AuthThrottle::kFreeFailures; ++i) {
        throttle.failed(kGreedy, now);
    }
    throttle.succeeded(kGreedy);
    EXPECT_EQ(throttle.failed(kGreedy, now).delay, Clock::duration::zero());
}

}  // namespace
}  // namespace tplab
