// `nft -a monitor` (all event types: the table's own "add table" line proves the subscription)
// under `stdbuf -oL`, so that each event reaches tplab when it happens, not when a 4 KiB stdio
// buffer fills; each line is stamped with CLOCK_MONOTONIC when read.
#include "nft_trace_session.hpp"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <stdexcept>

#include "shell_command.hpp"

namespace tplab {

double monotonicSeconds() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

NftTraceSession::NftTraceSession(const FlowFilter& filter, long pid) : table_(traceTableName(pid)) {
    monitor_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"stdbuf", "-oL", "nft", "-a", "monitor"}, true);
    // Give nft a moment to subscribe before the table appears; the wait below proves it did.
    timespec start{0, 100'000'000};
    ::nanosleep(&start, nullptr);
    // NAT needs conntrack, so where a nat chain exists, following NAT'd ports costs nothing.
    auto listed = runCommand({{"nft", "list", "ruleset"}, ""});
    bool natInUse =
        listed.exitCode == 0 && listed.output.find("type nat hook") != std::string::npos;
    auto added = runCommand({{"nft", "-f", "-"}, traceTableScript(filter, table_, natInUse)});
    if (added.exitCode != 0)
        throw std::runtime_error("nft could not add table inet " + table_ + ": " + added.output);
    tableAdded_ = true;
    const std::string marker = "add table inet " + table_;
    double deadline = monotonicSeconds() + 5;
    while (monotonicSeconds() < deadline) {
        pollfd pfd{fd(), POLLIN, 0};
        ::poll(&pfd, 1, 100);
        readAvailable();
        for (const auto& line : otherLines_) {
            if (line.rfind(marker, 0) == 0)
                return;
        }
        if (monitor_->exited())
            throw std::runtime_error("nft monitor stopped: " + partial_ +
                                     (otherLines_.empty() ? "" : otherLines_.back()));
    }
    throw std::runtime_error("nft monitor did not report table inet " + table_ + " within 5 s");
}

NftTraceSession::~NftTraceSession() {
    close();
}

void NftTraceSession::readAvailable() {
    char buffer[16384];
    for (;;) {
        ssize_t n = ::read(fd(), buffer, sizeof(buffer));
        if (n <= 0)
            break;
        double now = monotonicSeconds();
        partial_.append(buffer, static_cast<std::size_t>(n));
        std::size_t newline;
        while ((newline = partial_.find('\n')) != std::string::npos) {
            std::string line = partial_.substr(0, newline);
            partial_.erase(0, newline + 1);
            if (auto event = parseTraceLine(line, now))
                events_.push_back(std::move(*event));
            else if (otherLines_.size() < 1000)
                otherLines_.push_back(line);
        }
    }
}

std::string NftTraceSession::close() {
    if (closed_)
        return "";
    closed_ = true;
    std::string problems;
    if (tableAdded_) {
        auto deleted = runCommand({{"nft", "delete", "table", "inet", table_}, ""});
        if (deleted.exitCode != 0)
            problems += "nft delete table inet " + table_ + ": " + deleted.output;
    }
    if (monitor_)
        monitor_->stop();
    return problems;
}

}  // namespace tplab
