// The duration validator: parses with strtod itself, before CLI11 converts, so "nan", "inf",
// "1e10" and "5s" get a message that names the range instead of a conversion error later.
#include "option_checks.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace tplab {

std::string describeSeconds(double min, double max, bool zeroDisables) {
    std::ostringstream text;
    text << (zeroDisables ? "0 (never) or " : "") << min << " to " << max << " seconds";
    return text.str();
}

CLI::Validator nonEmpty() {
    return CLI::Validator(
        [](const std::string& text) { return text.empty() ? std::string("empty value") : ""; }, "",
        "non-empty");
}

CLI::Validator secondsBetween(double min, double max, bool zeroDisables) {
    std::string range = describeSeconds(min, max, zeroDisables);
    auto check = [min, max, zeroDisables, range](const std::string& text) -> std::string {
        const char* begin = text.c_str();
        char* end = nullptr;
        errno = 0;
        double value = std::strtod(begin, &end);
        if (text.empty() || end == begin || *end != '\0' || std::isspace(*begin)) {
            return "'" + text + "' is not a number of seconds (" + range + ")";
        }
        if (!std::isfinite(value) || errno == ERANGE) {
            return "'" + text + "' is not a finite number of seconds (" + range + ")";
        }
        if (zeroDisables && value == 0) {
            return "";
        }
        if (value < min || value > max) {
            return "'" + text + "' is out of range: give " + range;
        }
        return "";
    };
    std::ostringstream shown;  // what --help prints after the type: FLOAT:SECONDS in 0.001..3600
    shown << "SECONDS in " << (zeroDisables ? "0 or " : "") << min << ".." << max;
    return CLI::Validator(check, shown.str(), "seconds");
}

}  // namespace tplab
