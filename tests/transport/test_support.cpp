#include "test_support.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#ifdef FARLINK_TEST_HAVE_IBVERBS
#include <infiniband/verbs.h>
#endif

namespace farlink::test {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The socket suites need 127.0.0.1; where a sandbox has no loopback, skip
// the whole binary with meson's skip code instead of failing every case.
class LoopbackEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
              ::listen(fd, 1) == 0;
    int err = errno;
    if (fd >= 0) ::close(fd);
    if (!ok) {
      std::printf("SKIP: cannot listen on 127.0.0.1 (%s); socket tests need loopback\n",
                  std::strerror(err));
      std::fflush(stdout);
      std::_Exit(77);
    }
  }
};

[[maybe_unused]] ::testing::Environment* const kLoopbackEnv =
    ::testing::AddGlobalTestEnvironment(new LoopbackEnvironment);

}  // namespace

uint8_t patternByte(uint64_t seed, size_t i) {
  return static_cast<uint8_t>(splitmix64(seed * 0x100000001b3ULL + i / 8) >> (8 * (i % 8)));
}

void fillPattern(void* buf, size_t n, uint64_t seed) {
  auto* p = static_cast<uint8_t*>(buf);
  size_t words = n / 8;
  for (size_t w = 0; w < words; ++w) {
    uint64_t v = splitmix64(seed * 0x100000001b3ULL + w);
    std::memcpy(p + w * 8, &v, 8);  // little-endian hosts: byte k = v >> 8k
  }
  for (size_t i = words * 8; i < n; ++i) p[i] = patternByte(seed, i);
}

::testing::AssertionResult matchesPattern(const void* buf, size_t n, uint64_t seed) {
  const auto* p = static_cast<const uint8_t*>(buf);
  size_t words = n / 8;
  for (size_t w = 0; w < words; ++w) {
    uint64_t v = splitmix64(seed * 0x100000001b3ULL + w);
    if (std::memcmp(p + w * 8, &v, 8) != 0) {
      for (size_t i = w * 8; i < w * 8 + 8; ++i)
        if (p[i] != patternByte(seed, i))
          return ::testing::AssertionFailure()
                 << "byte " << i << " of " << n << " is 0x" << std::hex << int{p[i]}
                 << ", expected 0x" << int{patternByte(seed, i)} << " (seed " << std::dec << seed
                 << ")";
    }
  }
  for (size_t i = words * 8; i < n; ++i)
    if (p[i] != patternByte(seed, i))
      return ::testing::AssertionFailure() << "byte " << i << " of " << n << " differs";
  return ::testing::AssertionSuccess();
}

Buffer::Buffer(size_t size, uint8_t fill) : bytes(new uint8_t[size == 0 ? 1 : size]), n(size) {
  std::memset(bytes.get(), fill, size == 0 ? 1 : size);
}

Buffer Buffer::patterned(size_t size, uint64_t seed) {
  Buffer b(size, 0);
  fillPattern(b.data(), size, seed);
  return b;
}

namespace {

bool usesVerbs(const std::string& transport) { return transport == "verbs" || transport == "auto"; }

int rdmaDeviceCount() {
#ifdef FARLINK_TEST_HAVE_IBVERBS
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list != nullptr) ibv_free_device_list(list);
  return n;
#else
  return 0;
#endif
}

// IPv4 addresses of the netdevs RDMA devices sit on (sysfs names the
// netdev of each port's GID table), in device order.
std::vector<std::string> rdmaNetdevAddresses() {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::vector<fs::path> devs;
  std::error_code ec;
  for (const auto& dev : fs::directory_iterator("/sys/class/infiniband", ec)) devs.push_back(dev.path());
  std::sort(devs.begin(), devs.end());
  for (const auto& dev : devs) {
    std::ifstream in(dev / "ports/1/gid_attrs/ndevs/0");
    std::string netdev;
    if (!(in >> netdev)) continue;
    ifaddrs* ifs = nullptr;
    if (getifaddrs(&ifs) != 0) continue;
    for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET || netdev != i->ifa_name) continue;
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
      out.emplace_back(buf);
    }
    freeifaddrs(ifs);
  }
  return out;
}

}  // namespace

std::string testHost(const std::string& transport) {
  if (!usesVerbs(transport) || rdmaDeviceCount() == 0) return "127.0.0.1";
  static const std::string host = [] {
    if (const char* v = std::getenv("FARLINK_TEST_VERBS_ADDR"); v != nullptr && *v != '\0') return std::string(v);
    std::vector<std::string> a = rdmaNetdevAddresses();
    return a.empty() ? std::string("127.0.0.1") : a.front();
  }();
  return host;
}

bool namesClientHost(const std::string& transport, const std::string& text) {
  std::vector<std::string> hosts{testHost(transport)};
  if (hosts[0] != "127.0.0.1")
    for (auto& a : rdmaNetdevAddresses()) hosts.push_back(a);
  for (const auto& h : hosts)
    if (text.find(h) != std::string::npos) return true;
  return false;
}

std::string transportUnavailable(const std::string& transport) {
  if (transport != "verbs") return "";
  if (rdmaDeviceCount() == 0)
    return "no RDMA device (ibv_get_device_list is empty); verbs tests run where one exists, "
           "e.g. in a Soft-RoCE guest (rdma link add rxe0 type rxe netdev <if>)";
  return "";
}

std::string uriFor(const std::string& transport, uint16_t port, const std::string& host) {
  return transport + "://" + (host.empty() ? testHost(transport) : host) + ":" + std::to_string(port);
}

uint16_t closedLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ADD_FAILURE() << "cannot bind a probe socket: " << std::strerror(errno);
  }
  if (fd >= 0) ::close(fd);  // bound but never listening, now released
  return ntohs(a.sin_port);
}

ListenerPump::ListenerPump(Listener* listener) : listener_(listener), thread_([this] { run(); }) {}

ListenerPump::~ListenerPump() { stop(); }

void ListenerPump::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ListenerPump::run() {
  while (!stop_) {
    auto r = listener_->accept(50ms);
    std::vector<Status> rej = listener_->rejections();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (r.isOk()) {
        channels_.push_back(std::move(r).value());
      } else if (r.status().code() != StatusCode::kTimedOut) {
        accept_errors_.push_back(r.status());
      }
      for (auto& s : rej) rejections_.push_back(std::move(s));
    }
    cv_.notify_all();
    // An accept that fails at once must not turn into a busy loop.
    if (!r.isOk() && r.status().code() != StatusCode::kTimedOut) std::this_thread::sleep_for(10ms);
  }
}

std::unique_ptr<Channel> ListenerPump::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !channels_.empty(); })) return nullptr;
  auto ch = std::move(channels_.front());
  channels_.erase(channels_.begin());
  return ch;
}

Status ListenerPump::waitRejection(const std::function<bool(const Status&)>& pred,
                                   std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  Status found;
  cv_.wait_for(lock, timeout, [&] {
    for (const Status& s : rejections_)
      if (pred(s)) {
        found = s;
        return true;
      }
    return false;
  });
  return found;
}

size_t ListenerPump::countRejections(const std::function<bool(const Status&)>& pred, size_t n,
                                     std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  size_t count = 0;
  cv_.wait_for(lock, timeout, [&] {
    count = 0;
    for (const Status& s : rejections_) count += pred(s) ? 1 : 0;
    return count >= n;
  });
  return count;
}

std::vector<Status> ListenerPump::allRejections() {
  std::lock_guard<std::mutex> lock(mu_);
  return rejections_;
}

std::vector<Status> ListenerPump::acceptErrors() {
  std::lock_guard<std::mutex> lock(mu_);
  return accept_errors_;
}

ChannelPair connectPair(const std::string& transport, const ChannelOptions& client_opts,
                        const ChannelOptions& server_opts) {
  ChannelPair p;
  auto l = Listener::listen(uriFor(transport, 0), server_opts);
  if (!l) {
    ADD_FAILURE() << "listen: " << l.status().toString();
    return p;
  }
  p.listener = std::move(l).value();
  Result<std::unique_ptr<Channel>> accepted = Status(StatusCode::kCancelled, "not run");
  std::thread t([&] { accepted = p.listener->accept(kShortWait * 2); });
  auto c = Channel::connect(uriFor(transport, p.listener->port()), client_opts);
  t.join();
  if (!c) ADD_FAILURE() << "connect: " << c.status().toString();
  if (!accepted) ADD_FAILURE() << "accept: " << accepted.status().toString();
  if (c) p.client = std::move(c).value();
  if (accepted) p.server = std::move(accepted).value();
  return p;
}

std::string describe(const std::vector<Status>& statuses) {
  std::string out;
  for (size_t i = 0; i < statuses.size() && i < 8; ++i) out += "\n  " + statuses[i].toString();
  if (statuses.size() > 8) out += "\n  ... " + std::to_string(statuses.size() - 8) + " more";
  return out.empty() ? " (none)" : out;
}

void runConcurrently(std::vector<std::function<void()>> fns) {
  std::vector<std::thread> threads;
  threads.reserve(fns.size());
  for (auto& f : fns) threads.emplace_back(std::move(f));
  for (auto& t : threads) t.join();
}

void expectRecv(Channel& ch, size_t capacity, uint64_t tag, size_t want_size, uint64_t seed,
                std::chrono::milliseconds timeout) {
  Buffer buf(capacity);
  auto r = ch.irecv(buf.data(), capacity, tag);
  ASSERT_TRUE(r.isOk()) << "irecv: " << r.status().toString();
  Status s = r->wait(timeout);
  if (!r->done()) buf.bytes.release();  // still in flight: leak rather than free
  ASSERT_TRUE(s.isOk()) << "recv of " << want_size << " B, tag " << tag << ": " << s.toString();
  ASSERT_EQ(r->bytes(), want_size) << "tag " << tag;
  if (tag != kAnyTag) {
    EXPECT_EQ(r->tag(), tag);
  }
  EXPECT_TRUE(matchesPattern(buf.data(), want_size, seed)) << "tag " << tag;
}

void expectSend(Channel& ch, size_t size, uint64_t tag, uint64_t seed,
                std::chrono::milliseconds timeout) {
  Buffer buf = Buffer::patterned(size, seed);
  auto r = ch.isend(buf.data(), size, tag);
  ASSERT_TRUE(r.isOk()) << "isend: " << r.status().toString();
  Status s = r->wait(timeout);
  if (!r->done()) buf.bytes.release();  // still in flight: leak rather than free
  ASSERT_TRUE(s.isOk()) << "send of " << size << " B, tag " << tag << ": " << s.toString();
  EXPECT_EQ(r->bytes(), size);
}

}  // namespace farlink::test
