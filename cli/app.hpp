// The whole tplab command line as one CLI11 app, built without running anything: main() parses
// with it and runs the chosen command; the CLI fuzzer (tests/fuzz) only parses.
#pragma once

#include <CLI/CLI.hpp>

#include <vector>

#include "command.hpp"

namespace tplab {

// Describes `app` (help text, --version, one subcommand required) and adds every subcommand.
std::vector<Command> setupApp(CLI::App& app);

}  // namespace tplab
