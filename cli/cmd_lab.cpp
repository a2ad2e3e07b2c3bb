// `tplab lab NAME [OPTIONS]`: runs one of the lab scripts installed with tplab
// (${prefix}/share/tplab/labs, next to ${prefix}/bin/tplab), or those of the source tree when
// tplab runs from its build directory (build/cli/tplab -> labs/). The lab replaces this process
// (exec), so Ctrl-C and its exit status are the lab's own; it uses this very binary (TPLAB).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <system_error>
#include <vector>

#include "command.hpp"

namespace tplab {
namespace {

namespace fs = std::filesystem;

struct LabCommandOptions {
    bool list = false;
};

fs::path selfPath() {
    std::error_code error;
    fs::path self = fs::read_symlink("/proc/self/exe", error);
    if (error) {
        throw std::system_error(error, "readlink(/proc/self/exe)");
    }
    return self;
}

// The labs next to this binary: installed (bin/../share/tplab/labs) or in the source tree
// (build/cli/tplab -> labs/). Each must hold lib.sh, which every lab sources.
fs::path labsDirectory(const fs::path& self) {
    const fs::path bin = self.parent_path();
    const std::vector<fs::path> candidates = {bin.parent_path() / "share" / "tplab" / "labs",
                                              bin.parent_path().parent_path() / "labs"};
    for (const auto& candidate : candidates) {
        std::error_code error;
        if (fs::is_regular_file(candidate / "lib.sh", error)) {
            return candidate;
        }
    }
    throw std::system_error(ENOENT, std::generic_category(),
                            "no labs next to " + self.string() + " (looked in " +
                                candidates[0].string() + " and " + candidates[1].string() +
                                "): install tplab (cmake --install) or run it from its build/");
}

// The labs' names: every executable NAME.sh in `dir` but lib.sh, sorted.
std::vector<std::string> labNames(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const fs::path& path = entry.path();
        if (path.extension() != ".sh" || path.stem() == "lib" || !entry.is_regular_file() ||
            access(path.c_str(), X_OK) != 0) {
            continue;
        }
        names.push_back(path.stem().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

int runLab(const LabCommandOptions& cli, const std::vector<std::string>& arguments) {
    const fs::path self = selfPath();
    const fs::path dir = labsDirectory(self);
    const std::vector<std::string> names = labNames(dir);
    if (cli.list) {
        for (const auto& name : names) {
            std::printf("%s\n", name.c_str());
        }
        return 0;
    }
    if (arguments.empty()) {
        throw UsageError("tplab lab: give a lab's name (tplab lab --list names them)");
    }
    const std::string& name = arguments.front();
    if (name.size() > 1 && name[0] == '-') {
        throw UsageError("tplab lab: unknown option " + name +
                         " (tplab lab NAME [OPTIONS], or tplab lab --list)");
    }
    // Only a name from the list: never a path, never `..`, never lib.
    static const std::regex kName("[a-z0-9][a-z0-9-]{0,63}");
    if (!std::regex_match(name, kName) ||
        std::find(names.begin(), names.end(), name) == names.end()) {
        throw UsageError("tplab lab: no lab named '" + name + "' (tplab lab --list names them)");
    }

    const std::string script = (dir / (name + ".sh")).string();
    std::vector<std::string> argvStrings = {script};
    argvStrings.insert(argvStrings.end(), arguments.begin() + 1, arguments.end());
    std::vector<char*> argv;
    for (auto& argument : argvStrings) {
        argv.push_back(argument.data());
    }
    argv.push_back(nullptr);
    // The lab finds tplab through TPLAB first (labs/lib/output.sh): this binary, unless the
    // caller chose another.
    if (setenv("TPLAB", self.c_str(), 0) != 0) {
        throw std::system_error(errno, std::generic_category(), "setenv(TPLAB)");
    }
    // How the user ran the lab, for the lab to print in its own hints (labs/exercise.sh).
    if (setenv("TPLAB_LAB_COMMAND", ("tplab lab " + name).c_str(), 1) != 0) {
        throw std::system_error(errno, std::generic_category(), "setenv(TPLAB_LAB_COMMAND)");
    }
    std::fflush(stdout);
    execv(script.c_str(), argv.data());
    throw std::system_error(errno, std::generic_category(), "execv(" + script + ")");
}

}  // namespace

Command setupLabCommand(CLI::App& parent) {
    auto cli = std::make_shared<LabCommandOptions>();
    CLI::App* app = parent.add_subcommand(
        "lab",
        "Run a lab: tplab lab NAME [OPTIONS] runs the lab script NAME.sh with OPTIONS (tplab lab\n"
        "NAME --help shows them), as root, from the labs installed with tplab\n"
        "(PREFIX/share/tplab/labs) or, for build/cli/tplab, from the source tree's labs/. The lab\n"
        "uses this tplab. --list names them. The labs' settings come from the environment\n"
        "(LAB_PAUSE=1, LAB_PREFIX, LAB_OUTPUT...). See docs/labs/.");
    app->add_flag("--list", cli->list, "Print the names of the labs, one a line");
    // Everything from NAME on is the lab's: its options are not tplab's to parse.
    app->prefix_command();
    return Command{app, [cli, app] { return runLab(*cli, app->remaining()); }};
}

}  // namespace tplab
