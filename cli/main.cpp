// tplab's entry point: wires the subcommands together and turns failures into exit codes
// (0 fine, 1 setup failure, 2 bad input).
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "app.hpp"

namespace {

constexpr int kSetupFailure = 1;
constexpr int kBadInput = 2;

// One line whatever the input held: control characters (a newline inside an argument) are
// shown escaped, as \n or \xNN.
std::string oneLine(const std::string& message) {
    std::string line;
    for (unsigned char c : message) {
        if (c == '\n') {
            line += "\\n";
        } else if (c == '\t') {
            line += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            char escaped[8];
            std::snprintf(escaped, sizeof(escaped), "\\x%02x", c);
            line += escaped;
        } else {
            line += static_cast<char>(c);
        }
    }
    return line;
}

void printError(const std::string& message) {
    std::fprintf(stderr, "tplab: error: %s\n", oneLine(message).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app;
    std::vector<tplab::Command> commands = tplab::setupApp(app);

    std::string known;
    bool isKnown = false;
    for (const auto& command : commands) {
        known += (known.empty() ? "" : ", ") + command.app->get_name();
        isKnown = isKnown || (argc > 1 && command.app->get_name() == argv[1]);
    }
    if (argc > 1 && argv[1][0] != '-' && !isKnown) {
        printError(std::string("unknown command '") + argv[1] + "' (commands: " + known + ")");
        return kBadInput;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        printError(std::string(e.what()) + " (see --help)");
        return kBadInput;
    }

    try {
        for (auto& command : commands) {
            if (command.app->parsed()) {
                return command.run();
            }
        }
    } catch (const tplab::UsageError& e) {
        printError(e.what());
        return kBadInput;
    } catch (const std::invalid_argument& e) {  // input that parsed but cannot work
        printError(e.what());
        return kBadInput;
    } catch (const std::system_error& e) {
        printError(e.what());
        return kSetupFailure;
    } catch (const std::exception& e) {
        printError(e.what());
        return kSetupFailure;
    }
    return kBadInput;
}
