// CLI11 validators shared by the subcommands: bounded durations, and numbers that must be
// finite, so that no option value can overflow a std::chrono duration or silently mean "never".
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace tplab {

// Seconds as a decimal number in [min, max]; with `zeroDisables`, 0 is accepted too (and then
// `min` is the smallest non-zero value). Rejects NaN, infinities and anything unparsable.
CLI::Validator secondsBetween(double min, double max, bool zeroDisables = false);

// Refuses an empty value (--events "" must not mean "no events").
CLI::Validator nonEmpty();

// "0.001 to 3600 seconds": the range as --help and the error messages say it.
std::string describeSeconds(double min, double max, bool zeroDisables);

}  // namespace tplab
