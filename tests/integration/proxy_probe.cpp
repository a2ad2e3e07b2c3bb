// /proc readings and the stats event, for the load and fault tests.
#include "proxy_probe.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace tplab::test {

std::size_t openFdCount(pid_t pid) {
    std::size_t count = 0;
    std::error_code error;
    for (auto it =
             std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error);
         !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
        ++count;
    }
    return count;
}

std::size_t residentKiB(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stoul(line.substr(6));
        }
    }
    return 0;
}

double cpuSeconds(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the command name, which is in parentheses and may contain spaces.
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int index = 3; fields >> field; ++index) {
        if (index == 14) {
            utime = std::stoull(field);
        } else if (index == 15) {
            stime = std::stoull(field);
            break;
        }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

nlohmann::json requestStats(GatewayLab& lab) {
    std::size_t before = lab.events("stats").size();
    lab.proxy().signal(SIGUSR1);
    auto stats = lab.events("stats", before + 1);
    return stats.size() > before ? stats.back() : nlohmann::json();
}

nlohmann::json waitUntilIdle(GatewayLab& lab, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    nlohmann::json stats;
    while (true) {
        stats = requestStats(lab);
        if (stats.is_null() || stats["active"] == 0 ||
            std::chrono::steady_clock::now() > deadline) {
            return stats;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

long long unaccountedConnections(const nlohmann::json& stats) {
    long long closed = 0;
    for (const auto& [reason, count] : stats["closed"].items()) {
        closed += count.get<long long>();
    }
    return stats["accepted"].get<long long>() - closed;
}

long long envInt(const char* name, long long fallback) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') {
        return fallback;
    }
    char* end = nullptr;
    long long value = std::strtoll(text, &end, 10);
    return *end == '\0' ? value : fallback;
}

}  // namespace tplab::test
