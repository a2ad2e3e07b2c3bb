// The value-or-errno that every thin syscall wrapper returns; it never throws.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

namespace tplab {

template <typename T>
class Result {
  public:
    Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
    static Result failure(int err) { return Result(err, 0); }

    [[nodiscard]] bool ok() const noexcept { return err_ == 0; }
    explicit operator bool() const noexcept { return ok(); }
    [[nodiscard]] int error() const noexcept { return err_; }
    [[nodiscard]] T& value() & { return value_; }
    [[nodiscard]] const T& value() const& { return value_; }
    [[nodiscard]] T&& value() && { return std::move(value_); }

  private:
    Result(int err, int) : value_(), err_(err) {}
    T value_;
    int err_ = 0;
};

// A Result with no value: 0 means success, anything else is an errno.
class Status {
  public:
    Status() = default;
    static Status failure(int err) { return Status(err); }
    static Status fromErrno() { return Status(errno); }

    [[nodiscard]] bool ok() const noexcept { return err_ == 0; }
    explicit operator bool() const noexcept { return ok(); }
    [[nodiscard]] int error() const noexcept { return err_; }

  private:
    explicit Status(int err) : err_(err) {}
    int err_ = 0;
};

inline std::string errnoText(int err) {
    return std::generic_category().message(err);
}

// Thrown for setup failures; main() prints what() on one line and exits 1.
inline std::system_error setupError(int err, const std::string& call) {
    return std::system_error(err, std::generic_category(), call);
}

}  // namespace tplab
