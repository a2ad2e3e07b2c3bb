// The UDP session table: sessions by flow key, in least-recently-used order overall and per
// client address, with the limits that decide which session gives way to a new flow. O(1) per
// operation: two intrusive LRU lists, no scan. It owns no sockets, so it is tested without root.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "udp_flow_key.hpp"

namespace tplab {

// Which limit made a new flow evict an older session.
enum class UdpEviction {
    None,         // there is room
    ClientLimit,  // the client address has its maximum: its own least recently used session goes
    TableFull,    // the table has its maximum: the least recently used session overall goes
};

class UdpSessionTable {
  private:
    struct ClientSessions;

  public:
    // What the table keeps per session; the proxy's session derives from it.
    class Entry {
      public:
        virtual ~Entry() = default;
        [[nodiscard]] const UdpFlowKey& key() const noexcept { return key_; }

      private:
        friend class UdpSessionTable;
        UdpFlowKey key_;
        Entry* older_ = nullptr;  // global LRU list
        Entry* newer_ = nullptr;
        Entry* olderOfClient_ = nullptr;  // the client's own LRU list
        Entry* newerOfClient_ = nullptr;
        ClientSessions* client_ = nullptr;
    };

    struct Victim {
        Entry* entry = nullptr;
        UdpEviction reason = UdpEviction::None;
    };

    // maxPerClient is clamped to [1, maxSessions]; maxSessions to at least 1.
    UdpSessionTable(std::size_t maxSessions, std::size_t maxPerClient, std::uint64_t hashSeed = 0);
    ~UdpSessionTable();
    UdpSessionTable(const UdpSessionTable&) = delete;
    UdpSessionTable& operator=(const UdpSessionTable&) = delete;

    [[nodiscard]] Entry* find(const UdpFlowKey& key) const;
    // Marks the session as the most recently used, overall and for its client.
    void touch(Entry& entry) noexcept;
    // The session that must go before a new flow of this client fits (the client's limit first),
    // or {nullptr, None} when there is room.
    [[nodiscard]] Victim victimFor(const UdpEndpointKey& client) const;
    // Adds a session under `key` as the most recently used. The caller made room (victimFor) and
    // checked that `key` is not present; throws std::logic_error otherwise.
    Entry& insert(const UdpFlowKey& key, std::unique_ptr<Entry> entry);
    // Takes the session out of the table and hands it back to the caller.
    std::unique_ptr<Entry> remove(Entry& entry);

    [[nodiscard]] Entry* leastRecentlyUsed() const noexcept { return oldest_; }
    [[nodiscard]] Entry* newer(const Entry& entry) const noexcept { return entry.newer_; }
    // The client's least recently used session, or nullptr when it has none.
    [[nodiscard]] Entry* leastRecentlyUsedOf(const UdpEndpointKey& client) const;
    [[nodiscard]] std::size_t size() const noexcept { return sessions_.size(); }
    [[nodiscard]] std::size_t sessionsOf(const UdpEndpointKey& client) const;
    [[nodiscard]] std::size_t clientCount() const noexcept { return clients_.size(); }
    [[nodiscard]] std::size_t maxSessions() const noexcept { return maxSessions_; }
    [[nodiscard]] std::size_t maxPerClient() const noexcept { return maxPerClient_; }

  private:
    struct ClientSessions {
        UdpEndpointKey address;
        Entry* oldest = nullptr;
        Entry* newest = nullptr;
        std::size_t count = 0;
    };

    void unlink(Entry& entry) noexcept;
    void linkNewest(Entry& entry) noexcept;

    std::size_t maxSessions_;
    std::size_t maxPerClient_;
    std::unordered_map<UdpFlowKey, std::unique_ptr<Entry>, UdpKeyHash> sessions_;
    std::unordered_map<UdpEndpointKey, ClientSessions, UdpKeyHash> clients_;
    Entry* oldest_ = nullptr;
    Entry* newest_ = nullptr;
};

}  // namespace tplab
