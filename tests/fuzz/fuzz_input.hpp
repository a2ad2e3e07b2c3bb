// A cursor over a fuzz input: integers, flags and strings taken from the front until the bytes run
// out (then zeros and empty strings), so every input decodes to exactly one value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

namespace tplab::fuzz {

class FuzzInput {
  public:
    FuzzInput(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    template <typename T>
    T integral() {
        static_assert(std::is_integral_v<T>);
        std::make_unsigned_t<T> value = 0;
        for (std::size_t i = 0; i < sizeof(T) && offset_ < size_; ++i) {
            value = static_cast<std::make_unsigned_t<T>>(
                value | static_cast<std::make_unsigned_t<T>>(data_[offset_++]) << (8 * i));
        }
        return static_cast<T>(value);
    }

    bool flag() { return (integral<std::uint8_t>() & 1) != 0; }

    // A length byte, then that many bytes (fewer at the end of the input).
    std::string string() {
        std::size_t length = integral<std::uint8_t>();
        std::string text;
        while (text.size() < length && offset_ < size_) {
            text.push_back(static_cast<char>(data_[offset_++]));
        }
        return text;
    }

    [[nodiscard]] std::size_t remaining() const { return size_ - offset_; }
    [[nodiscard]] const std::uint8_t* position() const { return data_ + offset_; }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t offset_ = 0;
};

// A property the code promises; breaking it is a finding, like a crash.
inline void fuzzCheck(bool holds, const char* what) {
    if (!holds) {
        std::fprintf(stderr, "fuzz check failed: %s\n", what);
        std::abort();
    }
}

}  // namespace tplab::fuzz
