// Captures on several points at once, one thread per point, each thread inside its point's
// network namespace, each writing a standard .pcap named after the point.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "capture_point.hpp"

namespace tplab {

struct CaptureOptions {
    std::vector<CapturePoint> points;
    std::string outputDir = ".";
    std::string filter;                  // BPF, as tcpdump takes it; "" captures everything
    std::optional<std::uint64_t> count;  // stop a point after this many packets
    int snaplen = 262144;
};

struct PointResult {
    CapturePoint point;
    std::string file;
    std::uint64_t written = 0;   // packets written to the file
    std::uint64_t received = 0;  // pcap_stats ps_recv
    std::uint64_t dropped = 0;   // ps_drop + ps_ifdrop
};

class LiveCapture {
  public:
    explicit LiveCapture(CaptureOptions options);
    ~LiveCapture();
    LiveCapture(const LiveCapture&) = delete;
    LiveCapture& operator=(const LiveCapture&) = delete;

    // Returns once every point captures (packets from then on are in the files). Throws what
    // the first failing point threw: std::system_error for setup failures, std::invalid_argument
    // for a filter that does not compile.
    void start();
    void requestStop() noexcept { stop_ = true; }
    // True when every point has stopped by itself (--count reached).
    [[nodiscard]] bool allStopped() const noexcept { return running_ == 0; }
    std::vector<PointResult> finish();

  private:
    struct Slot {
        PointResult result;
        std::thread thread;
    };
    void capture(Slot& slot);
    void reportOpened(std::exception_ptr error);

    CaptureOptions options_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::atomic<bool> stop_{false};
    std::atomic<int> running_{0};
    std::mutex mutex_;
    std::condition_variable opened_;
    int openedCount_ = 0;
    std::exception_ptr firstError_;
};

}  // namespace tplab
