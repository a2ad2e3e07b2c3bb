// Human-readable logs on stderr, with a verbosity chosen by -v.
#pragma once

#include <string>
#include <string_view>

namespace tplab::log {

enum class Level { Error = 0, Warn = 1, Info = 2, Debug = 3 };

void setLevel(Level level) noexcept;
[[nodiscard]] bool enabled(Level level) noexcept;
// One line on stderr; control characters and invalid UTF-8 in `message` are escaped.
void write(Level level, std::string_view message);

// "10", "0.25": seconds as a person writes them.
std::string formatSeconds(double seconds);

inline void error(std::string_view message) {
    write(Level::Error, message);
}
inline void warn(std::string_view message) {
    write(Level::Warn, message);
}
inline void info(std::string_view message) {
    write(Level::Info, message);
}
inline void debug(std::string_view message) {
    write(Level::Debug, message);
}

}  // namespace tplab::log
