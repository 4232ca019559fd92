// A first-in first-out queue on one vector: no allocation until the first
// push (a socket that never receives costs nothing), and its storage is kept
// for reuse once drained, so in steady state it does not allocate.
// (std::deque allocates a block even when empty, and frees and allocates
// blocks as its front and back move: every 64 entries.)
#pragma once

#include <cstddef>
#include <vector>

namespace sn {

template <typename T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T* begin() { return items_.data() + head_; }
  T* end() { return items_.data() + items_.size(); }

  void push_back(const T& item) { items_.push_back(item); }
  void pop_front() {
    ++head_;
    if (head_ == items_.size()) {
      clear();
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      // Invariant: the dead prefix is never more than half the storage.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }

 private:
  std::vector<T> items_;
  size_t head_ = 0;  // items_[0, head_) are popped
};

}  // namespace sn
