#include "coll/driver.h"

#include <pthread.h>

#include <cassert>

namespace farlink::coll {

Driver::~Driver() {
  join();
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Driver::start(std::function<void()> job) {
  std::lock_guard<std::mutex> lk(mu_);
  assert(!busy_ && "Driver::start while a job runs (internal bug)");
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { loop(); });
    // A name for top/perf/gdb; a failure here changes nothing.
    (void)pthread_setname_np(thread_.native_handle(), "farlink-coll-drv");
  }
  job_ = std::move(job);
  busy_ = true;
  cv_.notify_all();
}

void Driver::join() {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return !busy_; });
}

void Driver::loop() {
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    cv_.wait(lk, [&] { return stop_ || job_; });
    if (!job_) return;  // stop_ with nothing to run
    std::function<void()> job = std::move(job_);
    job_ = nullptr;
    lk.unlock();
    job();
    job = nullptr;  // its captures go before the caller is told
    lk.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace farlink::coll
