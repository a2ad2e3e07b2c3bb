// The per-point capture threads: setns, pcap_activate, then poll + pcap_dispatch until told
// to stop. The .pcap files are plain libpcap dumps: tcpdump -r and Wireshark open them.
#include "live_capture.hpp"

#include <poll.h>

#include <stdexcept>
#include <system_error>

#include "netns.hpp"
#include "pcap_handle.hpp"

namespace tplab {
namespace {

constexpr int kPollMs = 50;
constexpr int kBufferBytes = 8 * 1024 * 1024;

std::runtime_error pcapFailure(const CapturePoint& point, const std::string& call,
                               const std::string& why) {
    return std::runtime_error(call + " on " + point.label() + ": " + why);
}

struct DumpContext {
    pcap_dumper_t* dumper;
    std::uint64_t* written;
};

void writePacket(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
    auto* context = reinterpret_cast<DumpContext*>(user);
    pcap_dump(reinterpret_cast<u_char*>(context->dumper), header, bytes);
    ++*context->written;
}

}  // namespace

LiveCapture::LiveCapture(CaptureOptions options) : options_(std::move(options)) {}

LiveCapture::~LiveCapture() {
    requestStop();
    for (auto& slot : slots_) {
        if (slot->thread.joinable()) {
            slot->thread.join();
        }
    }
}

void LiveCapture::start() {
    for (const auto& point : options_.points) {
        auto slot = std::make_unique<Slot>();
        slot->result.point = point;
        slot->result.file = options_.outputDir + "/" + point.fileName();
        slots_.push_back(std::move(slot));
    }
    running_ = static_cast<int>(slots_.size());
    for (auto& slot : slots_) {
        Slot* raw = slot.get();
        slot->thread = std::thread([this, raw] { capture(*raw); });
    }
    std::unique_lock lock(mutex_);
    opened_.wait(lock, [this] { return openedCount_ == static_cast<int>(slots_.size()); });
    if (firstError_) {
        lock.unlock();
        requestStop();
        std::rethrow_exception(firstError_);
    }
}

void LiveCapture::reportOpened(std::exception_ptr error) {
    std::lock_guard lock(mutex_);
    if (error && !firstError_) {
        firstError_ = error;
    }
    ++openedCount_;
    opened_.notify_all();
}

void LiveCapture::capture(Slot& slot) {
    const CapturePoint& point = slot.result.point;
    PcapHandle handle;
    PcapDumper dumper;
    try {
        enterNetns(point.netns);
        char error[PCAP_ERRBUF_SIZE] = {};
        handle.reset(pcap_create(point.interface.c_str(), error));
        if (!handle) {
            throw pcapFailure(point, "pcap_create", error);
        }
        pcap_set_snaplen(handle.get(), options_.snaplen);
        pcap_set_promisc(handle.get(), 1);
        pcap_set_immediate_mode(handle.get(), 1);
        pcap_set_buffer_size(handle.get(), kBufferBytes);
        int status = pcap_activate(handle.get());
        if (status < 0) {
            std::string why =
                status == PCAP_ERROR_NO_SUCH_DEVICE
                    ? "no such interface in namespace '" +
                          (point.netns.empty() ? std::string("(current)") : point.netns) + "'"
                    : std::string(pcap_statustostr(status)) + ": " + pcap_geterr(handle.get());
            throw pcapFailure(point, "pcap_activate", why);
        }
        if (!options_.filter.empty()) {
            bpf_program program{};
            if (pcap_compile(handle.get(), &program, options_.filter.c_str(), 1,
                             PCAP_NETMASK_UNKNOWN) != 0) {
                throw std::invalid_argument("filter '" + options_.filter +
                                            "' does not compile: " + pcap_geterr(handle.get()));
            }
            int set = pcap_setfilter(handle.get(), &program);
            pcap_freecode(&program);
            if (set != 0) {
                throw pcapFailure(point, "pcap_setfilter", pcap_geterr(handle.get()));
            }
        }
        if (pcap_setnonblock(handle.get(), 1, error) != 0) {
            throw pcapFailure(point, "pcap_setnonblock", error);
        }
        dumper.reset(pcap_dump_open(handle.get(), slot.result.file.c_str()));
        if (!dumper) {
            throw pcapFailure(point, "pcap_dump_open(" + slot.result.file + ")",
                              pcap_geterr(handle.get()));
        }
        reportOpened(nullptr);
    } catch (...) {
        reportOpened(std::current_exception());
        --running_;
        return;
    }

    DumpContext context{dumper.get(), &slot.result.written};
    pollfd readable{pcap_get_selectable_fd(handle.get()), POLLIN, 0};
    const std::uint64_t limit = options_.count.value_or(0);
    while (!stop_ && (limit == 0 || slot.result.written < limit)) {
        ::poll(&readable, 1, kPollMs);
        int budget = limit == 0 ? -1 : static_cast<int>(limit - slot.result.written);
        if (pcap_dispatch(handle.get(), budget, writePacket, reinterpret_cast<u_char*>(&context)) <
            0) {
            break;  // the interface went away (its namespace was deleted): keep what we have
        }
    }
    pcap_stat stats{};
    if (pcap_stats(handle.get(), &stats) == 0) {
        slot.result.received = stats.ps_recv;
        slot.result.dropped = stats.ps_drop + stats.ps_ifdrop;
    }
    pcap_dump_flush(dumper.get());
    --running_;
}

std::vector<PointResult> LiveCapture::finish() {
    requestStop();
    std::vector<PointResult> results;
    for (auto& slot : slots_) {
        if (slot->thread.joinable()) {
            slot->thread.join();
        }
        results.push_back(slot->result);
    }
    return results;
}

}  // namespace tplab
