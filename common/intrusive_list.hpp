// A doubly linked list whose links live inside the elements: linking and unlinking allocate
// nothing and an element unlinks itself when it is destroyed. The core keeps its connections,
// its connects in flight and its "run again" queue this way, so a connection costs no
// per-list node and no timer allocation.
#pragma once

namespace tplab {

class ListHook {
  public:
    ListHook() = default;
    ListHook(const ListHook&) = delete;
    ListHook& operator=(const ListHook&) = delete;
    ~ListHook() { unlink(); }

    [[nodiscard]] bool linked() const noexcept { return next_ != nullptr; }
    void unlink() noexcept {
        if (next_ != nullptr) {
            prev_->next_ = next_;
            next_->prev_ = prev_;
            next_ = prev_ = nullptr;
        }
    }

  private:
    template <typename T, ListHook T::*Hook>
    friend class IntrusiveList;
    ListHook* prev_ = nullptr;
    ListHook* next_ = nullptr;
    void* owner_ = nullptr;
};

// Elements of type T linked through their member `Hook`. The list owns nothing.
template <typename T, ListHook T::*Hook>
class IntrusiveList {
  public:
    IntrusiveList() { head_.prev_ = head_.next_ = &head_; }
    IntrusiveList(const IntrusiveList&) = delete;
    IntrusiveList& operator=(const IntrusiveList&) = delete;
    ~IntrusiveList() {
        while (!empty()) {
            head_.next_->unlink();
        }
        head_.prev_ = head_.next_ = nullptr;
    }

    [[nodiscard]] bool empty() const noexcept { return head_.next_ == &head_; }

    void pushBack(T& element) noexcept {
        ListHook& hook = element.*Hook;
        hook.unlink();
        hook.owner_ = &element;
        hook.prev_ = head_.prev_;
        hook.next_ = &head_;
        head_.prev_->next_ = &hook;
        head_.prev_ = &hook;
    }
    void remove(T& element) noexcept { (element.*Hook).unlink(); }
    [[nodiscard]] T* front() noexcept { return empty() ? nullptr : owner(head_.next_); }
    // The element after `element`, or nullptr at the end.
    [[nodiscard]] T* next(T& element) noexcept {
        ListHook* hook = (element.*Hook).next_;
        return hook == &head_ ? nullptr : owner(hook);
    }

  private:
    static T* owner(ListHook* hook) noexcept { return static_cast<T*>(hook->owner_); }

    ListHook head_;
};

}  // namespace tplab
