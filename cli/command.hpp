// What each subcommand file gives main(): its CLI11 subcommand and the function that runs it.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace tplab {

// Thrown for input that parsed but makes no sense; main() prints it and exits 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Command {
    CLI::App* app = nullptr;
    std::function<int()> run;
};

Command setupProxyCommand(CLI::App& parent);
Command setupCaptureCommand(CLI::App& parent);
Command setupReportCommand(CLI::App& parent);
Command setupRulesCommand(CLI::App& parent);
Command setupDoctorCommand(CLI::App& parent);
Command setupLabCommand(CLI::App& parent);
Command setupTraceCommand(CLI::App& parent);

}  // namespace tplab
