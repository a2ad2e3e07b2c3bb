// posix_spawn with a pipe for the child's output, and a stop that always reaps.
#include "child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "result.hpp"

extern char** environ;

namespace tplab {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, bool captureOutput) {
    int pipeFds[2] = {-1, -1};
    if (captureOutput && ::pipe2(pipeFds, O_CLOEXEC) != 0)
        throw setupError(errno, "pipe2");
    Fd readEnd(pipeFds[0]), writeEnd(pipeFds[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (captureOutput) {
        posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), STDERR_FILENO);
    }
    // The child starts with default signal handling: tplab blocks SIGINT/SIGTERM for signalfd.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> args;
    for (const auto& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    int err = ::posix_spawnp(&pid_, args[0], &actions, &attributes, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (err != 0)
        throw setupError(err, "posix_spawnp(" + argv.front() + ")");
    if (captureOutput) {
        output_ = std::move(readEnd);
        ::fcntl(output_.get(), F_SETFL, O_NONBLOCK);
    }
}

ChildProcess::~ChildProcess() {
    stop();
}

bool ChildProcess::exited() {
    if (reaped_)
        return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return reaped_;
}

void ChildProcess::stop(int graceMs) {
    if (pid_ <= 0 || exited())
        return;
    ::kill(pid_, SIGTERM);
    for (int waited = 0; waited < graceMs; waited += 10) {
        if (exited())
            return;
        timespec tenMs{0, 10'000'000};
        ::nanosleep(&tenMs, nullptr);
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    status_ = 128 + SIGKILL;
}

}  // namespace tplab
