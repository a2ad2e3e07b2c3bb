// --help that fits 100 columns: CLI11 prints each description on one line however long it is.
#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <string>

namespace tplab {

inline constexpr std::size_t kHelpWidth = 100;

// Wraps `text` at spaces into lines of at most `width` columns; keeps its own line breaks.
std::string wrapText(const std::string& text, std::size_t width);

class HelpFormatter : public CLI::Formatter {
  public:
    HelpFormatter();
    std::string make_option_desc(const CLI::Option* option) const override;
    std::string make_subcommand(const CLI::App* subcommand) const override;
    std::string make_description(const CLI::App* app) const override;
};

}  // namespace tplab
