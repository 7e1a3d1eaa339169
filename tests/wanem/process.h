// Child processes for the integration tests: output to temporary files (no
// pipe can fill up), every wait bounded, and a child still running when its
// handle dies is killed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace farlink::wanemtest {

struct Outcome {
  int code = -1;  // exit status; 128 + signal if killed
  bool timed_out = false;
  std::string out;  // stdout and stderr together
};

class Process {
 public:
  explicit Process(const std::vector<std::string>& argv);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  Outcome wait(std::chrono::milliseconds timeout);
  bool waitForOutput(const std::string& text, std::chrono::milliseconds timeout);
  // Sends `sig` to the child (e.g. SIGKILL to a peer mid-transfer).
  void signal(int sig);
  // Not exited yet (reaps it when it has).
  bool running();
  std::string output() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string path_;
};

Outcome run(const std::vector<std::string>& argv,
            std::chrono::milliseconds timeout = std::chrono::seconds(30));
// Looks `name` up in PATH.
bool haveProgram(const std::string& name);

}  // namespace farlink::wanemtest
