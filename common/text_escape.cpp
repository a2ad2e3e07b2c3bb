// UTF-8 validation (RFC 3629, the table of well-formed sequences in Unicode 15 section 3.9) and
// the escapes built on it.
#include "text_escape.hpp"

#include <cstdint>

namespace tplab {
namespace {

// The length of the well-formed UTF-8 sequence at the start of `text`, or 0 if there is none.
std::size_t sequenceLength(std::string_view text) noexcept {
    auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(text[i]); };
    auto continuation = [&](std::size_t i, std::uint8_t low = 0x80, std::uint8_t high = 0xbf) {
        return i < text.size() && byte(i) >= low && byte(i) <= high;
    };
    std::uint8_t first = byte(0);
    if (first < 0x80) {
        return 1;
    }
    if (first >= 0xc2 && first <= 0xdf) {
        return continuation(1) ? 2 : 0;
    }
    if (first >= 0xe0 && first <= 0xef) {
        std::uint8_t low = first == 0xe0 ? 0xa0 : 0x80;   // no overlong forms
        std::uint8_t high = first == 0xed ? 0x9f : 0xbf;  // no surrogates
        return continuation(1, low, high) && continuation(2) ? 3 : 0;
    }
    if (first >= 0xf0 && first <= 0xf4) {
        std::uint8_t low = first == 0xf0 ? 0x90 : 0x80;   // no overlong forms
        std::uint8_t high = first == 0xf4 ? 0x8f : 0xbf;  // nothing past U+10FFFF
        return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0;
    }
    return 0;
}

void appendHex(std::string& out, std::uint8_t byte) {
    constexpr char kDigits[] = "0123456789abcdef";
    out += "\\x";
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0x0f];
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

bool isValidUtf8(std::string_view text) noexcept {
    while (!text.empty()) {
        if (static_cast<std::uint8_t>(text.front()) < 0x80) {
            text.remove_prefix(1);
            continue;
        }
        std::size_t length = sequenceLength(text);
        if (length == 0) {
            return false;
        }
        text.remove_prefix(length);
    }
    return true;
}

std::string escapeInvalidUtf8(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 8);
    while (!text.empty()) {
        std::size_t length = sequenceLength(text);
        if (length == 0) {
            appendHex(out, static_cast<std::uint8_t>(text.front()));
            text.remove_prefix(1);
            continue;
        }
        if (text.front() == '\\') {
            out += "\\\\";
        } else {
            out.append(text.substr(0, length));
        }
        text.remove_prefix(length);
    }
    return out;
}

std::string unescapeBytes(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '\\') {
            out += '\\';
            ++i;
        } else if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x' &&
                   hexValue(text[i + 2]) >= 0 && hexValue(text[i + 3]) >= 0) {
            out += static_cast<char>(hexValue(text[i + 2]) << 4 | hexValue(text[i + 3]));
            i += 3;
        } else {
            out += text[i];
        }
    }
    return out;
}

std::string escapeForDisplay(std::string_view text, bool multiLine) {
    std::string out;
    out.reserve(text.size());
    while (!text.empty()) {
        auto first = static_cast<std::uint8_t>(text.front());
        std::size_t length = sequenceLength(text);
        if (length == 0) {
            appendHex(out, first);
            text.remove_prefix(1);
            continue;
        }
        if ((first == '\n' || first == '\t') && multiLine) {
            out += static_cast<char>(first);
        } else if (first == '\n') {
            out += "\\n";
        } else if (first == '\r') {
            out += "\\r";
        } else if (first == '\t') {
            out += "\\t";
        } else if (first < 0x20 || first == 0x7f) {
            appendHex(out, first);
        } else if (length == 2 && first == 0xc2 && static_cast<std::uint8_t>(text[1]) < 0xa0) {
            // C1 controls (U+0080..U+009F): U+009B is a CSI to a terminal that reads them.
            appendHex(out, first);
            appendHex(out, static_cast<std::uint8_t>(text[1]));
        } else {
            out.append(text.substr(0, length));
        }
        text.remove_prefix(length);
    }
    return out;
}

}  // namespace tplab
