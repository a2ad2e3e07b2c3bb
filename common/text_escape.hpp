// Bytes a stranger wrote (a client's SOCKS5 name, user name, HTTP request line) made safe to put
// in JSON, in a log line or on a terminal: every byte kept, as an escape where needed.
#pragma once

#include <string>
#include <string_view>

namespace tplab {

// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
[[nodiscard]] bool isValidUtf8(std::string_view text) noexcept;

// For JSON: each byte that is not part of a well-formed UTF-8 sequence becomes the four
// characters \xHH, and each backslash becomes \\, so the original bytes can be recovered
// (unescapeBytes). The result is valid UTF-8. Apply only to text that is not (isValidUtf8).
[[nodiscard]] std::string escapeInvalidUtf8(std::string_view text);

// The inverse of escapeInvalidUtf8.
[[nodiscard]] std::string unescapeBytes(std::string_view text);

// For a terminal or a log line: control characters (C0, DEL, C1), and bytes that are not
// well-formed UTF-8, become \n, \r, \t or \xHH; everything else is kept. With `multiLine`
// (a report), newlines and tabs stay as they are. Backslashes are kept as they are.
[[nodiscard]] std::string escapeForDisplay(std::string_view text, bool multiLine = false);

}  // namespace tplab
