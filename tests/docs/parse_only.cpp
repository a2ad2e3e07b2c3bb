// Parses a tplab command line with the real app (cli/app.cpp) and runs nothing: exit 0 when it
// parses and names a subcommand, 2 with CLI11's message when not.
// tests/docs/check_tplab_commands.sh checks with it the commands of the teaching pages that only
// work inside a lab's namespaces. Usage: tplab_parse_only ARGS...   (the arguments after `tplab`)
#include <cstdio>

#include "app.hpp"

int main(int argc, char** argv) {
    CLI::App app;
    auto commands = tplab::setupApp(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        return 0;
    } catch (const CLI::CallForAllHelp&) {
        return 0;
    } catch (const CLI::CallForVersion&) {
        return 0;
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "tplab_parse_only: %s\n", e.what());
        return 2;
    }
    for (const auto& command : commands) {
        if (command.app->parsed()) {
            return 0;
        }
    }
    std::fprintf(stderr, "tplab_parse_only: no subcommand\n");
    return 2;
}
