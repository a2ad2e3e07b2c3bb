// The UDP session table without sockets: flow keys, LRU order, the per-client limit, which
// session is evicted, and that nothing is left behind for a client whose sessions all closed.
#include "udp_session_table.hpp"
#include "udp_proxy.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_set>

namespace tplab {
namespace {

struct TestEntry : UdpSessionTable::Entry {
    explicit TestEntry(std::string entryName) : name(std::move(entryName)) {}
    std::string name;
};

UdpFlowKey flow(const std::string& client, const std::string& destination) {
    return {UdpEndpointKey::from(Endpoint::parse(client)),
            UdpEndpointKey::from(Endpoint::parse(destination))};
}

std::string nameOf(const UdpSessionTable::Entry* entry) {
    return entry == nullptr ? "(none)" : static_cast<const TestEntry*>(entry)->name;
}

UdpSessionTable::Entry& add(UdpSessionTable& table, const UdpFlowKey& key,
                            const std::string& name) {
    return table.insert(key, std::make_unique<TestEntry>(name));
}

// Oldest first, by walking the global list.
std::string order(const UdpSessionTable& table) {
    std::string text;
    for (auto* entry = table.leastRecentlyUsed(); entry != nullptr; entry = table.newer(*entry)) {
        text += (text.empty() ? "" : " ") + nameOf(entry);
    }
    return text;
}

const UdpEndpointKey kHostA = UdpEndpointKey::from(Endpoint::parse("192.0.2.2:1"));
const UdpEndpointKey kHostB = UdpEndpointKey::from(Endpoint::parse("192.0.2.3:1"));

TEST(UdpFlowKey, AnIpv4MappedClientHasTheSameKeyAsItsPlainForm) {
    EXPECT_EQ(UdpEndpointKey::from(Endpoint::parse("[::ffff:192.0.2.2]:5000")),
              UdpEndpointKey::from(Endpoint::parse("192.0.2.2:5000")));
}

TEST(UdpFlowKey, PortsFamiliesAndDirectionsMakeDifferentKeys) {
    EXPECT_NE(flow("192.0.2.2:5000", "198.51.100.2:53"), flow("192.0.2.2:5001", "198.51.100.2:53"));
    EXPECT_NE(flow("192.0.2.2:5000", "198.51.100.2:53"), flow("198.51.100.2:53", "192.0.2.2:5000"));
    EXPECT_NE(UdpEndpointKey::from(Endpoint::parse("0.0.0.0:53")),
              UdpEndpointKey::from(Endpoint::parse("[::]:53")));
}

TEST(UdpFlowKey, TheHashSpreadsFlowsThatDifferOnlyByPort) {
    UdpKeyHash hash{12345};
    std::unordered_set<std::size_t> buckets;
    for (int port = 1; port <= 4096; ++port) {
        buckets.insert(hash(flow("192.0.2.2:40000", "203.0.113.9:" + std::to_string(port))) % 4096);
    }
    EXPECT_GT(buckets.size(), 2000U);  // a uniform hash fills about 63% of them
}

TEST(UdpSessionTable, FindsAnInsertedFlowAndNothingElse) {
    UdpSessionTable table(8, 8);
    add(table, flow("192.0.2.2:5000", "198.51.100.2:53"), "a");
    EXPECT_EQ(nameOf(table.find(flow("192.0.2.2:5000", "198.51.100.2:53"))), "a");
    EXPECT_EQ(table.find(flow("192.0.2.2:5000", "198.51.100.2:54")), nullptr);
    EXPECT_EQ(table.size(), 1U);
}

TEST(UdpSessionTable, TouchMakesASessionTheMostRecentlyUsed) {
    UdpSessionTable table(8, 8);
    auto& a = add(table, flow("192.0.2.2:1", "198.51.100.2:1"), "a");
    add(table, flow("192.0.2.2:1", "198.51.100.2:2"), "b");
    auto& c = add(table, flow("192.0.2.2:1", "198.51.100.2:3"), "c");
    EXPECT_EQ(order(table), "a b c");
    table.touch(a);
    EXPECT_EQ(order(table), "b c a");
    table.touch(a);  // already the newest
    table.touch(c);
    EXPECT_EQ(order(table), "b a c");
    EXPECT_EQ(nameOf(table.leastRecentlyUsedOf(kHostA)), "b");
}

TEST(UdpSessionTable, HasRoomUntilALimitIsReached) {
    UdpSessionTable table(4, 2);
    EXPECT_EQ(table.victimFor(kHostA).reason, UdpEviction::None);
    add(table, flow("192.0.2.2:1", "198.51.100.2:1"), "a1");
    EXPECT_EQ(table.victimFor(kHostA).entry, nullptr);
}

TEST(UdpSessionTable, AClientAtItsLimitGivesUpItsOwnLeastRecentlyUsedSession) {
    UdpSessionTable table(10, 2);
    auto& a1 = add(table, flow("192.0.2.2:1", "198.51.100.2:1"), "a1");
    add(table, flow("192.0.2.3:1", "198.51.100.2:1"), "b1");  // the oldest overall after a1
    add(table, flow("192.0.2.2:2", "198.51.100.2:2"), "a2");
    table.touch(a1);
    // Another port of the same address counts against the same client.
    auto victim = table.victimFor(UdpEndpointKey::from(Endpoint::parse("192.0.2.2:9")));
    EXPECT_EQ(victim.reason, UdpEviction::ClientLimit);
    EXPECT_EQ(nameOf(victim.entry), "a2");
    // Host B is not at its limit and the table has room: nothing for it to evict.
    EXPECT_EQ(table.victimFor(kHostB).reason, UdpEviction::None);
}

TEST(UdpSessionTable, AFullTableGivesUpTheLeastRecentlyUsedSessionOverall) {
    UdpSessionTable table(3, 3);
    auto& a1 = add(table, flow("192.0.2.2:1", "198.51.100.2:1"), "a1");
    add(table, flow("192.0.2.2:1", "198.51.100.2:2"), "a2");
    add(table, flow("192.0.2.3:1", "198.51.100.2:1"), "b1");
    table.touch(a1);
    auto victim = table.victimFor(UdpEndpointKey::from(Endpoint::parse("192.0.2.4:1")));
    EXPECT_EQ(victim.reason, UdpEviction::TableFull);
    EXPECT_EQ(nameOf(victim.entry), "a2");
}

TEST(UdpSessionTable, TheClientLimitIsCheckedBeforeTheTableLimit) {
    UdpSessionTable table(2, 1);
    add(table, flow("192.0.2.3:1", "198.51.100.2:1"), "b1");
    add(table, flow("192.0.2.2:1", "198.51.100.2:1"), "a1");
    auto victim = table.victimFor(kHostA);
    EXPECT_EQ(victim.reason, UdpEviction::ClientLimit);
    EXPECT_EQ(nameOf(victim.entry), "a1");  // not b1, the oldest overall
}

TEST(UdpSessionTable, ANewClientIsAlwaysServedAfterOneHostFloodedTheTable) {
    UdpSessionTable table(4096, 512);
    for (int port = 1; port <= 4200; ++port) {
        auto key = flow("192.0.2.2:40000", "203.0.113.9:" + std::to_string(port));
        if (auto victim = table.victimFor(key.client); victim.entry != nullptr) {
            EXPECT_EQ(victim.reason, UdpEviction::ClientLimit);
            table.remove(*victim.entry);
        }
        add(table, key, std::to_string(port));
    }
    EXPECT_EQ(table.size(), 512U);
    EXPECT_EQ(nameOf(table.leastRecentlyUsed()), std::to_string(4200 - 511));
    EXPECT_EQ(table.victimFor(kHostB).reason, UdpEviction::None);
}

TEST(UdpSessionTable, RemovingTheLastSessionOfAClientForgetsTheClient) {
    UdpSessionTable table(8, 8);
    auto& a1 = add(table, flow("192.0.2.2:1", "198.51.100.2:1"), "a1");
    auto& a2 = add(table, flow("192.0.2.2:2", "198.51.100.2:1"), "a2");
    add(table, flow("192.0.2.3:1", "198.51.100.2:1"), "b1");
    EXPECT_EQ(table.clientCount(), 2U);
    EXPECT_EQ(table.sessionsOf(kHostA), 2U);
    auto removed = table.remove(a1);
    ASSERT_NE(removed, nullptr);
    EXPECT_EQ(nameOf(removed.get()), "a1");
    EXPECT_EQ(table.sessionsOf(kHostA), 1U);
    EXPECT_EQ(order(table), "a2 b1");
    table.remove(a2);
    EXPECT_EQ(table.clientCount(), 1U);
    EXPECT_EQ(table.sessionsOf(kHostA), 0U);
    EXPECT_EQ(table.leastRecentlyUsedOf(kHostA), nullptr);
    EXPECT_EQ(order(table), "b1");
    EXPECT_EQ(table.find(flow("192.0.2.2:1", "198.51.100.2:1")), nullptr);
}

TEST(UdpSessionTable, RemovingTheMiddleOfBothListsKeepsThemLinked) {
    UdpSessionTable table(8, 8);
    add(table, flow("192.0.2.2:1", "198.51.100.2:1"), "a1");
    auto& a2 = add(table, flow("192.0.2.2:1", "198.51.100.2:2"), "a2");
    add(table, flow("192.0.2.2:1", "198.51.100.2:3"), "a3");
    table.remove(a2);
    EXPECT_EQ(order(table), "a1 a3");
    EXPECT_EQ(nameOf(table.leastRecentlyUsedOf(kHostA)), "a1");
    auto& a4 = add(table, flow("192.0.2.2:1", "198.51.100.2:4"), "a4");
    table.touch(*table.leastRecentlyUsed());
    EXPECT_EQ(order(table), "a3 a4 a1");
    table.remove(a4);
    EXPECT_EQ(order(table), "a3 a1");
}

TEST(UdpSessionTable, RefusesToInsertPastALimitOrTwice) {
    UdpSessionTable table(2, 1);
    add(table, flow("192.0.2.2:1", "198.51.100.2:1"), "a1");
    EXPECT_THROW(add(table, flow("192.0.2.2:1", "198.51.100.2:1"), "again"), std::logic_error);
    EXPECT_THROW(add(table, flow("192.0.2.2:1", "198.51.100.2:2"), "a2"), std::logic_error);
    add(table, flow("192.0.2.3:1", "198.51.100.2:1"), "b1");
    EXPECT_THROW(add(table, flow("192.0.2.4:1", "198.51.100.2:1"), "c1"), std::logic_error);
    EXPECT_EQ(table.size(), 2U);
    EXPECT_EQ(table.clientCount(), 2U);
}

TEST(UdpSessionTable, ClampsThePerClientLimitToTheTable) {
    UdpSessionTable table(4, 100);
    EXPECT_EQ(table.maxPerClient(), 4U);
    UdpSessionTable atLeastOne(0, 0);
    EXPECT_EQ(atLeastOne.maxSessions(), 1U);
    EXPECT_EQ(atLeastOne.maxPerClient(), 1U);
}

TEST(UdpSettings, ThePerClientLimitDefaultsToAnEighthOfTheTableAndAtLeastOne) {
    UdpSettings settings;
    EXPECT_EQ(settings.perClientLimit(), 512U);
    settings.maxSessions = 5;
    EXPECT_EQ(settings.perClientLimit(), 1U);
    settings.maxSessionsPerClient = 3;
    EXPECT_EQ(settings.perClientLimit(), 3U);
    settings.maxSessionsPerClient = 50;
    EXPECT_EQ(settings.perClientLimit(), 5U);
}

}  // namespace
}  // namespace tplab
