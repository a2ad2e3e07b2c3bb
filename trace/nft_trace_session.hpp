// The netfilter half of tplab trace: tplab's own nft table that sets nftrace for the flow, and
// `nft -a monitor` reading the trace events, both for the life of this object.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "flow_filter.hpp"
#include "trace_event.hpp"

namespace tplab {

class NftTraceSession {
  public:
    // Starts the monitor, adds the table, and returns once the monitor has seen the table
    // appear (so it is subscribed before the first traced packet). Throws std::system_error
    // (or std::runtime_error with nft's message) if either cannot be done.
    NftTraceSession(const FlowFilter& filter, long pid);
    ~NftTraceSession();
    NftTraceSession(const NftTraceSession&) = delete;
    NftTraceSession& operator=(const NftTraceSession&) = delete;

    [[nodiscard]] int fd() const { return monitor_->output(); }
    [[nodiscard]] const std::string& table() const { return table_; }

    // Reads what the monitor has printed (non-blocking) and parses the trace lines.
    void readAvailable();
    [[nodiscard]] const std::vector<TraceEvent>& events() const { return events_; }

    // Deletes the table and stops the monitor (the destructor does it too); returns problems.
    std::string close();

  private:
    std::string table_;
    std::unique_ptr<ChildProcess> monitor_;
    bool tableAdded_ = false;
    bool closed_ = false;
    std::string partial_;
    std::vector<std::string> otherLines_;
    std::vector<TraceEvent> events_;
};

// CLOCK_MONOTONIC in seconds.
double monotonicSeconds();

}  // namespace tplab
