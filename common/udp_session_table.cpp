// Two intrusive doubly linked lists (overall and per client) threaded through the entries; the
// client address of a flow is its client key without the port.
#include "udp_session_table.hpp"

#include <algorithm>
#include <stdexcept>

namespace tplab {

UdpSessionTable::UdpSessionTable(std::size_t maxSessions, std::size_t maxPerClient,
                                 std::uint64_t hashSeed)
    : maxSessions_(std::max<std::size_t>(maxSessions, 1)),
      maxPerClient_(std::clamp<std::size_t>(maxPerClient, 1, maxSessions_)),
      sessions_(0, UdpKeyHash{hashSeed}),
      clients_(0, UdpKeyHash{hashSeed ^ 0x5bd1e995ULL}) {}

UdpSessionTable::~UdpSessionTable() = default;

UdpSessionTable::Entry* UdpSessionTable::find(const UdpFlowKey& key) const {
    auto found = sessions_.find(key);
    return found == sessions_.end() ? nullptr : found->second.get();
}

void UdpSessionTable::unlink(Entry& entry) noexcept {
    (entry.older_ ? entry.older_->newer_ : oldest_) = entry.newer_;
    (entry.newer_ ? entry.newer_->older_ : newest_) = entry.older_;
    entry.older_ = entry.newer_ = nullptr;
    ClientSessions& client = *entry.client_;
    (entry.olderOfClient_ ? entry.olderOfClient_->newerOfClient_ : client.oldest) =
        entry.newerOfClient_;
    (entry.newerOfClient_ ? entry.newerOfClient_->olderOfClient_ : client.newest) =
        entry.olderOfClient_;
    entry.olderOfClient_ = entry.newerOfClient_ = nullptr;
}

void UdpSessionTable::linkNewest(Entry& entry) noexcept {
    entry.older_ = newest_;
    (newest_ ? newest_->newer_ : oldest_) = &entry;
    newest_ = &entry;
    ClientSessions& client = *entry.client_;
    entry.olderOfClient_ = client.newest;
    (client.newest ? client.newest->newerOfClient_ : client.oldest) = &entry;
    client.newest = &entry;
}

void UdpSessionTable::touch(Entry& entry) noexcept {
    if (newest_ == &entry && entry.client_->newest == &entry) {
        return;  // the common case for a busy flow: nothing to move
    }
    unlink(entry);
    linkNewest(entry);
}

UdpSessionTable::Victim UdpSessionTable::victimFor(const UdpEndpointKey& client) const {
    if (auto found = clients_.find(client.withoutPort());
        found != clients_.end() && found->second.count >= maxPerClient_) {
        return {found->second.oldest, UdpEviction::ClientLimit};
    }
    if (sessions_.size() >= maxSessions_) {
        return {oldest_, UdpEviction::TableFull};
    }
    return {};
}

UdpSessionTable::Entry& UdpSessionTable::insert(const UdpFlowKey& key,
                                                std::unique_ptr<Entry> entry) {
    if (sessions_.size() >= maxSessions_ || sessions_.count(key) != 0) {
        throw std::logic_error("UdpSessionTable::insert: no room, or the flow is already there");
    }
    const UdpEndpointKey address = key.client.withoutPort();
    auto [clientIt, added] = clients_.try_emplace(address);
    ClientSessions& client = clientIt->second;
    if (client.count >= maxPerClient_) {
        throw std::logic_error("UdpSessionTable::insert: the client is at its limit");
    }
    client.address = address;
    Entry& stored = *entry;
    try {
        sessions_.emplace(key, std::move(entry));
    } catch (...) {
        if (added) {
            clients_.erase(clientIt);
        }
        throw;
    }
    stored.key_ = key;
    stored.client_ = &client;
    ++client.count;
    linkNewest(stored);
    return stored;
}

std::unique_ptr<UdpSessionTable::Entry> UdpSessionTable::remove(Entry& entry) {
    auto found = sessions_.find(entry.key_);
    if (found == sessions_.end() || found->second.get() != &entry) {
        return nullptr;
    }
    unlink(entry);
    ClientSessions* client = entry.client_;
    entry.client_ = nullptr;
    if (--client->count == 0) {
        clients_.erase(client->address);
    }
    auto owned = std::move(found->second);
    sessions_.erase(found);
    return owned;
}

UdpSessionTable::Entry* UdpSessionTable::leastRecentlyUsedOf(const UdpEndpointKey& client) const {
    auto found = clients_.find(client.withoutPort());
    return found == clients_.end() ? nullptr : found->second.oldest;
}

std::size_t UdpSessionTable::sessionsOf(const UdpEndpointKey& client) const {
    auto found = clients_.find(client.withoutPort());
    return found == clients_.end() ? 0 : found->second.count;
}

}  // namespace tplab
