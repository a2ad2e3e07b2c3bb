// Fuzzes tplab's command line: the real app (cli/app.cpp) parses a fuzzed argv, one argument per
// line of the input, and nothing is run. Parsing either succeeds or throws CLI::ParseError, the
// only thing main() catches around parse(): anything else would kill tplab.
#include <cstdint>
#include <string>
#include <vector>

#include "app.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> arguments{"tplab"};
    std::string current;
    for (std::size_t i = 0; i < size; ++i) {
        char c = static_cast<char>(data[i]);
        if (c == '\n') {
            arguments.push_back(current);
            current.clear();
        } else if (c != '\0') {  // a real argv cannot hold a NUL
            current.push_back(c);
        }
    }
    if (!current.empty()) {
        arguments.push_back(current);
    }
    std::vector<char*> argv;
    for (auto& argument : arguments) {
        argv.push_back(argument.data());
    }
    argv.push_back(nullptr);

    CLI::App app;
    auto commands = tplab::setupApp(app);
    try {
        app.parse(static_cast<int>(arguments.size()), argv.data());
    } catch (const CLI::ParseError&) {
    }
    return 0;
}
