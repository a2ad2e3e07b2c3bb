// stderr logging: one line per message, prefixed with the program and the level, with control
// characters and bytes that are not UTF-8 escaped (\n, \x1b, \xff).
#include "log.hpp"

#include <cstdio>
#include <sstream>
#include <string>

#include "text_escape.hpp"

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
    // A message may carry what a client sent (a SOCKS5 name, a user name, an HTTP authority):
    // a newline in it would forge a log line of its own, an ESC would drive the terminal.
    line += escapeForDisplay(message);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace tplab::log
