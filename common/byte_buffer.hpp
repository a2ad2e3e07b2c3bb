// A fixed-capacity FIFO of bytes: what one relay direction holds while the receiver is slow.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>

namespace tplab {

class ByteBuffer {
  public:
    explicit ByteBuffer(std::size_t capacity)
        : data_(std::make_unique<char[]>(capacity)), capacity_(capacity) {}

    [[nodiscard]] bool empty() const noexcept { return begin_ == end_; }
    [[nodiscard]] bool full() const noexcept { return size() == capacity_; }
    [[nodiscard]] std::size_t size() const noexcept { return end_ - begin_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    // Where the next read() may write, moving unsent bytes to the front first if that makes room.
    [[nodiscard]] char* writableData() noexcept {
        if (end_ == capacity_ && begin_ > 0) {
            std::memmove(data_.get(), data_.get() + begin_, size());
            end_ -= begin_;
            begin_ = 0;
        }
        return data_.get() + end_;
    }
    [[nodiscard]] std::size_t writableSize() const noexcept {
        return begin_ > 0 && end_ == capacity_ ? begin_ : capacity_ - end_;
    }
    void commitWrite(std::size_t n) noexcept { end_ += n; }

    [[nodiscard]] const char* readableData() const noexcept { return data_.get() + begin_; }
    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ == end_) {
            begin_ = end_ = 0;
        }
    }

  private:
    std::unique_ptr<char[]> data_;
    std::size_t capacity_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace tplab
