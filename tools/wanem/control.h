// The control socket of a running link: a Unix stream socket that takes one
// JSON request line per connection and answers with one JSON line. Requests:
//   {"cmd":"stats"}
//   {"cmd":"set","a2b":{...DirPatch...},"b2a":{...}}
//   {"cmd":"blackout","duration_ns":N}
//   {"cmd":"reset","connections":N,"port":P}   (P 0: any TCP connection)
//   {"cmd":"shutdown"}
// Replies carry "ok": true/false and "error" on failure.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "core/unique_fd.h"
#include "farlink/status.h"

namespace farlink::wanem {

using ControlHandler = std::function<nlohmann::json(const nlohmann::json& request)>;

// Serves requests on its own thread, one at a time (requests are tiny). The
// socket file is created mode 0600 (root's only) and removed on stop().
class ControlServer {
 public:
  ControlServer() = default;
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  Status start(const std::string& path, ControlHandler handler);
  void stop();

 private:
  void run();
  void serveOne(int fd);

  std::string path_;
  ControlHandler handler_;
  UniqueFd listen_fd_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

// Sends one request to the link whose socket is at `path` and returns the
// reply (which may itself say ok: false). `link` names the link in errors.
Result<nlohmann::json> controlRequest(const std::string& path, const std::string& link,
                                      const nlohmann::json& request);

}  // namespace farlink::wanem
