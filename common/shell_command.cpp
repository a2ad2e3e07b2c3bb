// Running commands for `tplab rules` and `tplab doctor`.
#include "shell_command.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "fd.hpp"
#include "result.hpp"

extern char** environ;

namespace tplab {

namespace {

// POSIX single quotes: everything inside is literal except ', written as '\''.
std::string shellWord(const std::string& arg) {
    const char* safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-";
    if (!arg.empty() && arg.find_first_not_of(safe) == std::string::npos) {
        return arg;
    }
    std::string quoted = "'";
    for (char c : arg) {
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return quoted + "'";
}

}  // namespace

std::string ShellCommand::text() const {
    std::string line;
    for (const auto& arg : argv) {
        line += (line.empty() ? "" : " ") + shellWord(arg);
    }
    if (!input.empty()) {
        // A here-document ends at the first line equal to its delimiter: pick one no line is.
        const std::string body = input.back() == '\n' ? input : input + "\n";
        std::string delimiter = "EOF";
        while (("\n" + body).find("\n" + delimiter + "\n") != std::string::npos) {
            delimiter += "_";
        }
        line += " <<'" + delimiter + "'\n" + body + delimiter;
    }
    return line;
}

CommandOutcome runCommand(const ShellCommand& command) {
    int input[2];
    int output[2];
    if (::pipe2(input, O_CLOEXEC) != 0 || ::pipe2(output, O_CLOEXEC) != 0) {
        throw setupError(errno, "pipe2");
    }
    Fd inputRead(input[0]), inputWrite(input[1]), outputRead(output[0]), outputWrite(output[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, inputRead.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, outputWrite.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, outputWrite.get(), STDERR_FILENO);
    std::vector<char*> argv;
    for (const auto& arg : command.argv)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    int spawned = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        return {127, command.argv.front() + ": " + errnoText(spawned)};
    }
    inputRead.reset();
    outputWrite.reset();
    std::size_t written = 0;
    while (written < command.input.size()) {
        ssize_t n = ::write(inputWrite.get(), command.input.data() + written,
                            command.input.size() - written);
        if (n <= 0)
            break;
        written += static_cast<std::size_t>(n);
    }
    inputWrite.reset();
    CommandOutcome outcome;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(outputRead.get(), buffer, sizeof(buffer))) > 0) {
        outcome.output.append(buffer, static_cast<std::size_t>(n));
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    outcome.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return outcome;
}

}  // namespace tplab
