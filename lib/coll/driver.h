// One long-lived thread per communicator that runs the part of a collective
// that must proceed beside the worker thread: the inter-site transfers that
// overlap an adapter call (waitAllWhile) and the allreduce pipeline's link
// side. Started on first use, joined when the communicator goes away.
//
// Why not a thread per collective: io_uring cancels the operations a thread
// submitted when that thread exits. A driver thread per collective left the
// lanes' armed receives cancelled behind it, and the next collective found
// them only when it polled the ring again (7-46 ms per collective at 4-16
// MiB, loopback). A thread that lives as long as the channels keeps them
// armed.
//
// One job at a time: the worker runs collectives one after another and each
// needs at most one job beside it. Thread-safe for that one caller.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace farlink::coll {

class Driver {
 public:
  Driver() = default;
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Runs `job` on the driver thread. The caller must join() before it
  // starts the next job or frees anything the job uses; the job itself must
  // end on its own (waits bounded by a deadline, or by a flag the caller
  // sets before join()).
  void start(std::function<void()> job);
  // Blocks until the started job has returned. No-op when none is running.
  void join();

  // start() now, join() when the scope ends, on every path out.
  class Scope {
   public:
    Scope(Driver& d, std::function<void()> job) : d_(d) { d_.start(std::move(job)); }
    ~Scope() { d_.join(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Driver& d_;
  };

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;  // set: waiting to run or running
  bool busy_ = false;          // a job was started and has not returned yet
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace farlink::coll
