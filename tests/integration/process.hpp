// Test support: run a shell command and capture its output, or keep a process running in the
// background and stop it (SIGTERM, then SIGKILL) when the handle goes away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace tplab::test {

struct CommandResult {
    int exitCode = -1;
    std::string output;  // stdout and stderr together
};

// Runs `command` with /bin/sh and waits for it.
CommandResult runShell(const std::string& command);

class Process {
  public:
    Process() = default;
    // Starts argv[0] with stdout and stderr appended to `logPath`.
    Process(const std::vector<std::string>& argv, const std::string& logPath);
    Process(Process&& other) noexcept;
    Process& operator=(Process&& other) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    ~Process();

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    void signal(int signo) const;
    // Waits for the process to exit; returns its exit code, or -1 on timeout / death by signal.
    int wait(std::chrono::milliseconds timeout);
    void stop();

  private:
    pid_t pid_ = -1;
};

}  // namespace tplab::test
