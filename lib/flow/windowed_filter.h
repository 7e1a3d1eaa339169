// Running min or max over a sliding window, in O(1) time and memory: the
// three-sample algorithm by Kathleen Nichols used by BBR (Linux lib/minmax.c).
// It keeps the best, second-best and third-best samples of successively later
// sub-windows, so when the best expires the next one is already known. The
// window key is anything ordered with a difference (time points, round counts).
#pragma once

#include <array>
#include <functional>

namespace farlink::flow {

template <typename Value, typename Key, typename Span, typename Better>
class WindowedFilter {
 public:
  explicit WindowedFilter(Span window) : window_(window) {}

  // Adds a sample taken at `key` (keys must not decrease).
  void update(Value value, Key key) {
    if (!valid_ || !better_(estimates_[0].value, value) || key - estimates_[2].key > window_) {
      reset(value, key);
      return;
    }
    if (!better_(estimates_[1].value, value)) {
      estimates_[1] = estimates_[2] = {value, key};
    } else if (!better_(estimates_[2].value, value)) {
      estimates_[2] = {value, key};
    }
    expire(value, key);
  }

  // Forgets everything; the next sample becomes the estimate.
  void reset(Value value, Key key) {
    estimates_.fill({value, key});
    valid_ = true;
  }
  void clear() { valid_ = false; }

  bool valid() const { return valid_; }
  // The best sample in the window; Value{} before the first sample.
  Value best() const { return valid_ ? estimates_[0].value : Value{}; }
  Key bestKey() const { return estimates_[0].key; }

 private:
  struct Sample {
    Value value{};
    Key key{};
  };

  // Ages the three estimates: when the best is older than the window the
  // second takes its place, and sub-window boundaries refresh the others.
  void expire(Value value, Key key) {
    Span dt = key - estimates_[0].key;
    if (dt > window_) {
      estimates_[0] = estimates_[1];
      estimates_[1] = estimates_[2];
      estimates_[2] = {value, key};
      if (key - estimates_[0].key > window_) {
        estimates_[0] = estimates_[1];
        estimates_[1] = estimates_[2];
      }
      return;
    }
    if (estimates_[1].key == estimates_[0].key && dt > window_ / 4) {
      estimates_[2] = estimates_[1] = {value, key};
    } else if (estimates_[2].key == estimates_[1].key && dt > window_ / 2) {
      estimates_[2] = {value, key};
    }
  }

  Span window_;
  Better better_{};
  bool valid_ = false;
  std::array<Sample, 3> estimates_{};
};

// "Better" means strictly better or equal keeps the newer sample.
template <typename Value, typename Key, typename Span>
using WindowedMax = WindowedFilter<Value, Key, Span, std::greater<Value>>;
template <typename Value, typename Key, typename Span>
using WindowedMin = WindowedFilter<Value, Key, Span, std::less<Value>>;

}  // namespace farlink::flow
