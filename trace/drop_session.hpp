// The skb:kfree_skb tracepoint in a tracefs instance of tplab's own, on for the life of this
// object: mounts tracefs if needed, and leaves tracefs as it found it.
#pragma once

#include <string>
#include <vector>

#include "drop_event.hpp"
#include "fd.hpp"

namespace tplab {

class DropSession {
  public:
    // family 4, 6 or 0 (both). Never throws: when drop reasons cannot be had, available() is
    // false and unavailableReason() says why in one line.
    DropSession(long pid, int family);
    ~DropSession();
    DropSession(const DropSession&) = delete;
    DropSession& operator=(const DropSession&) = delete;

    [[nodiscard]] bool available() const { return pipe_.valid(); }
    [[nodiscard]] const std::string& unavailableReason() const { return why_; }
    [[nodiscard]] bool mountedTracefs() const { return mounted_; }
    [[nodiscard]] const std::string& instancePath() const { return instance_; }
    [[nodiscard]] int fd() const { return pipe_.get(); }

    // Reads what trace_pipe has (non-blocking) and returns the drops parsed so far.
    void readAvailable();
    [[nodiscard]] const std::vector<DropEvent>& drops() const { return drops_; }

    // Switches everything off now (the destructor does it too); returns problems, one a line.
    std::string close();

  private:
    std::string mountPoint_;
    std::string instance_;
    std::string name_;
    bool mounted_ = false;
    bool closed_ = false;
    Fd pipe_;
    std::string why_;
    std::string partial_;
    std::vector<DropEvent> drops_;
};

}  // namespace tplab
