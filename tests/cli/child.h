// Runs the farlink binary as a child process for end-to-end tests: output
// goes to temporary files (no pipe can fill up), every wait is bounded and a
// child still running at the end is killed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace farlink::clitest {

struct Finished {
  int code = -1;  // exit status, 128 + signal if killed by one
  bool timed_out = false;
  std::string out;
  std::string err;
};

class Child {
 public:
  // args[0] is the first argument after the binary. `env` adds NAME=value
  // entries to this process's environment.
  explicit Child(const std::vector<std::string>& args, const std::vector<std::string>& env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Waits up to `timeout`; then SIGKILLs and reports timed_out.
  Finished wait(std::chrono::milliseconds timeout);
  // Polls stdout and stderr until `text` appears, the child exits, or timeout.
  bool waitForOutput(const std::string& text, std::chrono::milliseconds timeout);
  void signal(int sig);
  std::string out() const;
  std::string err() const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::string out_path_;
  std::string err_path_;
};

// Path of the farlink binary under test (FARLINK_BIN).
std::string farlinkBinary();
// Runs to completion (bounded).
Finished run(const std::vector<std::string>& args,
             std::chrono::milliseconds timeout = std::chrono::seconds(60),
             const std::vector<std::string>& env = {});
// A loopback TCP port that was free a moment ago.
uint16_t freePort();

}  // namespace farlink::clitest
