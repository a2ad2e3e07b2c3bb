// A command as an argument vector (never through a shell), its typeable text, and running it.
#pragma once

#include <string>
#include <vector>

namespace tplab {

struct ShellCommand {
    std::vector<std::string> argv;
    std::string input;  // fed to stdin (nft -f -); usually empty

    [[nodiscard]] std::string text() const;  // as a person would type it
};

struct CommandOutcome {
    int exitCode = -1;
    std::string output;  // stdout and stderr
};

// posix_spawnp, stdin from `input`, stdout and stderr captured together.
CommandOutcome runCommand(const ShellCommand& command);

}  // namespace tplab
