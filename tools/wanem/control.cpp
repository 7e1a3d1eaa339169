#include "control.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace farlink::wanem {
namespace {

constexpr size_t kMaxRequest = 64 * 1024;

Result<sockaddr_un> unixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Status(StatusCode::kInvalidArgument, fmt::format("socket path {} is too long", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

void setTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool writeAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads until a newline or EOF; false on timeout, error or an oversized line.
bool readLine(int fd, std::string& out) {
  char buf[4096];
  while (out.find('\n') == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return !out.empty();
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxRequest) return false;
  }
  out.resize(out.find('\n'));
  return true;
}

}  // namespace

ControlServer::~ControlServer() { stop(); }

Status ControlServer::start(const std::string& path, ControlHandler handler) {
  auto addr = unixAddress(path);
  if (!addr) return addr.status();
  listen_fd_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listen_fd_.valid()) return Status(StatusCode::kIoError, "cannot create control socket", errno);
  ::unlink(path.c_str());  // a stale socket from a crashed run; Topology already checked the name
  if (::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) != 0) {
    return Status(StatusCode::kIoError, fmt::format("cannot bind control socket {}", path), errno);
  }
  chmod(path.c_str(), 0600);
  if (::listen(listen_fd_.get(), 16) != 0) {
    return Status(StatusCode::kIoError, fmt::format("cannot listen on control socket {}", path), errno);
  }
  path_ = path;
  handler_ = std::move(handler);
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void ControlServer::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
  listen_fd_.reset();
}

void ControlServer::run() {
  while (!stop_.load()) {
    pollfd pfd{listen_fd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    UniqueFd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (conn.valid()) serveOne(conn.get());
  }
}

void ControlServer::serveOne(int fd) {
  setTimeouts(fd, 2);
  std::string line;
  nlohmann::json reply;
  if (!readLine(fd, line)) {
    reply = {{"ok", false}, {"error", "incomplete or oversized request"}};
  } else {
    auto request = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded() || !request.is_object()) {
      reply = {{"ok", false}, {"error", "request is not a JSON object"}};
    } else {
      reply = handler_(request);
    }
  }
  (void)writeAll(fd, reply.dump() + "\n");
}

Result<nlohmann::json> controlRequest(const std::string& path, const std::string& link,
                                      const nlohmann::json& request) {
  auto addr = unixAddress(path);
  if (!addr) return addr.status();
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status(StatusCode::kIoError, "cannot create a Unix socket", errno);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) != 0) {
    int e = errno;
    if (e == ENOENT || e == ECONNREFUSED) {
      return Status(StatusCode::kPeerClosed,
                    fmt::format("no farlink-wanem link '{}' is running (nothing answers on {}); "
                                "start one with 'farlink-wanem up --name {}'",
                                link, path, link),
                    e);
    }
    return Status(StatusCode::kIoError, fmt::format("cannot connect to control socket {}", path), e);
  }
  setTimeouts(fd.get(), 5);
  if (!writeAll(fd.get(), request.dump() + "\n")) {
    return Status(StatusCode::kIoError, fmt::format("cannot send request to link '{}'", link), errno);
  }
  std::string line;
  if (!readLine(fd.get(), line)) {
    return Status(StatusCode::kTimedOut,
                  fmt::format("link '{}' did not answer on {} within 5 s", link, path), errno);
  }
  auto reply = nlohmann::json::parse(line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    return Status(StatusCode::kProtocolError, fmt::format("link '{}' sent a garbled reply", link));
  }
  return reply;
}

}  // namespace farlink::wanem
