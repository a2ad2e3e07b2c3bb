// A child process whose stdout and stderr tplab reads through a pipe; killed and reaped by the
// destructor if still running.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "fd.hpp"

namespace tplab {

class ChildProcess {
  public:
    // posix_spawnp(argv); with `captureOutput`, stdout and stderr go to a non-blocking pipe
    // (output()). Throws std::system_error if it cannot be started.
    ChildProcess(const std::vector<std::string>& argv, bool captureOutput);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] int output() const { return output_.get(); }

    // waitpid(WNOHANG): true once it has exited (status in exitStatus()).
    bool exited();
    [[nodiscard]] int exitStatus() const { return status_; }

    // SIGTERM, then SIGKILL after `graceMs`; reaps it.
    void stop(int graceMs = 300);

  private:
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = -1;
    Fd output_;
};

}  // namespace tplab
