// stderr logging: one line per message, prefixed with the program and the level.
#include "log.hpp"

#include <cstdio>
#include <sstream>
#include <string>

namespace tplab::log {
namespace {

Level currentLevel = Level::Info;

constexpr std::string_view name(Level level) {
    switch (level) {
        case Level::Error:
            return "error";
        case Level::Warn:
            return "warning";
        case Level::Info:
            return "info";
        case Level::Debug:
            return "debug";
    }
    return "";
}

}  // namespace

std::string formatSeconds(double seconds) {
    std::ostringstream text;
    text << seconds;
    return text.str();
}

void setLevel(Level level) noexcept {
    currentLevel = level;
}

bool enabled(Level level) noexcept {
    return level <= currentLevel;
}

void write(Level level, std::string_view message) {
    if (!enabled(level)) {
        return;
    }
    std::string line = "tplab: ";
    line += name(level);
    line += ": ";
    line += message;
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace tplab::log
