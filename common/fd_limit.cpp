// The open-file budget.
#include "fd_limit.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace tplab {
namespace {

std::size_t reserve(std::size_t workers, std::size_t listeners) {
    return 32 + workers * (4 + 2 * listeners);
}

}  // namespace

FdLimits raiseOpenFileLimit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return {};
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    auto clamp = [](rlim_t value) {
        return value == RLIM_INFINITY ? static_cast<std::size_t>(1) << 30
                                      : static_cast<std::size_t>(value);
    };
    return {clamp(limit.rlim_cur), clamp(limit.rlim_max)};
}

std::size_t fdsNeeded(std::size_t maxConnections, std::size_t maxUdpSessions, std::size_t workers,
                      std::size_t listeners) {
    return 2 * maxConnections + 2 * maxUdpSessions + reserve(workers, listeners);
}

std::size_t pipesThatFit(std::size_t limit, std::size_t maxConnections, std::size_t maxUdpSessions,
                         std::size_t workers, std::size_t listeners) {
    std::size_t needed = fdsNeeded(maxConnections, maxUdpSessions, workers, listeners);
    std::size_t spare = limit > needed ? (limit - needed) / 2 : 0;
    return std::min(maxConnections / 4, spare);
}

std::size_t connectionsThatFit(std::size_t limit, std::size_t maxUdpSessions, std::size_t workers,
                               std::size_t listeners) {
    std::size_t fixed = 2 * maxUdpSessions + reserve(workers, listeners);
    if (limit <= fixed) {
        return 0;
    }
    return (limit - fixed) * 2 / 5;  // 2 fds per connection + 2 per pipe, pipes = connections / 4
}

}  // namespace tplab
