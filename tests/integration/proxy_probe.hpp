// Test support: what the reliability tests read about a running proxy from outside: its open
// fds, resident memory and CPU time (/proc), and its counters (the `stats` event on SIGUSR1).
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <string>

#include "gateway_lab.hpp"

namespace tplab::test {

std::size_t openFdCount(pid_t pid);
std::size_t residentKiB(pid_t pid);
// utime + stime, in seconds.
double cpuSeconds(pid_t pid);

// Sends SIGUSR1 and returns the `stats` event it produced (null json after 5 s without one).
nlohmann::json requestStats(GatewayLab& lab);
// Polls the stats until no connection is open; returns the last stats (check `active`).
nlohmann::json waitUntilIdle(GatewayLab& lab, std::chrono::seconds timeout);
// accepted minus the sum of every close reason: 0 when every accepted connection was counted.
long long unaccountedConnections(const nlohmann::json& stats);

// An integer from the environment, or `fallback` when unset or not a number.
long long envInt(const char* name, long long fallback);

}  // namespace tplab::test
