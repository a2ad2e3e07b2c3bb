// Wires the subcommands into one app; each lives in its own cmd_*.cpp.
#include "app.hpp"

#include <memory>
#include <string>

#include "help_formatter.hpp"

namespace tplab {

std::vector<Command> setupApp(CLI::App& app) {
    app.formatter(std::make_shared<HelpFormatter>());  // subcommands added below inherit it
    app.description(
        "tplab: teaches and compares the two ways Linux hands a transparent proxy its traffic\n"
        "(REDIRECT/DNAT in the nat table, TPROXY in the mangle table), and is such a proxy.\n"
        "Docs: docs/concepts.md. Labs: tplab lab --list, then tplab lab quickstart (as root).");
    app.set_version_flag("--version", std::string("tplab ") + TPLAB_VERSION);
    app.require_subcommand(1);
    return {setupProxyCommand(app), setupCaptureCommand(app), setupReportCommand(app),
            setupRulesCommand(app), setupDoctorCommand(app),  setupTraceCommand(app),
            setupLabCommand(app)};
}

}  // namespace tplab
