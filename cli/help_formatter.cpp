// Word wrapping for CLI11's help: descriptions go to the right of a fixed column, so each line
// gets what is left of 100 columns and CLI11 indents the continuation lines itself.
#include "help_formatter.hpp"

#include <sstream>

namespace tplab {

std::string wrapText(const std::string& text, std::size_t width) {
    std::string out;
    std::istringstream lines(text);
    std::string line;
    bool firstLine = true;
    while (std::getline(lines, line)) {
        if (!firstLine) {
            out += '\n';
        }
        firstLine = false;
        std::istringstream words(line);
        std::string word;
        std::size_t column = 0;
        while (words >> word) {
            if (column > 0 && column + 1 + word.size() > width) {
                out += '\n';
                column = 0;
            } else if (column > 0) {
                out += ' ';
                ++column;
            }
            out += word;
            column += word.size();
        }
    }
    return out;
}

HelpFormatter::HelpFormatter() {
    column_width(30);
}

std::string HelpFormatter::make_option_desc(const CLI::Option* option) const {
    return wrapText(CLI::Formatter::make_option_desc(option), kHelpWidth - get_column_width());
}

// In the list of subcommands, only the first sentence of each description: `tplab CMD --help`
// has the rest.
std::string HelpFormatter::make_subcommand(const CLI::App* subcommand) const {
    std::string summary = subcommand->get_description();
    for (char& c : summary) {
        if (c == '\n') {
            c = ' ';
        }
    }
    if (auto end = summary.find(". "); end != std::string::npos) {
        summary.resize(end + 1);
    }
    std::ostringstream out;
    CLI::detail::format_help(out, subcommand->get_display_name(true),
                             wrapText(summary, kHelpWidth - get_column_width()),
                             get_column_width());
    return out.str();
}

std::string HelpFormatter::make_description(const CLI::App* app) const {
    std::string text = CLI::Formatter::make_description(app);
    // CLI11 ends the description with a newline of its own; wrapping drops it.
    bool endsWithNewline = !text.empty() && text.back() == '\n';
    std::string wrapped = wrapText(text, kHelpWidth);
    return endsWithNewline ? wrapped + "\n" : wrapped;
}

}  // namespace tplab
