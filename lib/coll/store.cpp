// Store protocol, one request/response pair per call on tags 1/2:
//   request  [u8 op][u32 key length][key][u64 timeout ms][value]
//   response [u8 StatusCode][value, or an error message]
// op: 1 set, 2 get, 3 goodbye. Lengths are checked before use; a client that
// breaks the protocol loses its channel, never the server.
#include "coll/store.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "core/byte_order.h"

namespace farlink::coll {
namespace {

constexpr uint64_t kReqTag = 1, kRespTag = 2;
constexpr uint8_t kSet = 1, kGet = 2, kBye = 3;
constexpr size_t kReqHeader = 1 + 4 + 8;
constexpr size_t kMaxKey = 1024;
using Clock = std::chrono::steady_clock;

struct Client {
  std::unique_ptr<Channel> ch;
  std::vector<uint8_t> buf;
  Request req;
  bool gone = false;
};

struct PendingGet {
  size_t client;
  std::string key;
  Clock::time_point deadline;
};

void respond(Client& c, StatusCode code, const std::string& body) {
  std::string msg(1, char(code));
  msg += body;
  // The client waits for this answer, so a short bound is enough.
  if (Status s = c.ch->send(msg.data(), msg.size(), kRespTag, std::chrono::seconds(10)); !s) {
    std::fprintf(stderr, "farlink coll store: answer to %s failed: %s\n", c.ch->peer().c_str(),
                 s.toString().c_str());
    c.gone = true;
  }
}

}  // namespace

Result<std::unique_ptr<StoreServer>> StoreServer::start(const std::string& host, uint16_t port,
                                                        int clients,
                                                        const ChannelOptions& options) {
  ChannelOptions o = options;
  o.lanes = 1;  // a few small messages: one connection is plenty
  std::string uri = "tcp://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                    ":" + std::to_string(port);
  auto l = Listener::listen(uri, o);
  if (!l)
    return Status(l.status().code(),
                  "rank 0 cannot serve the rendezvous store on " + uri + " (MASTER_ADDR/" +
                      "MASTER_PORT): " + l.status().toString() +
                      "; pick a free MASTER_PORT on an address of this host",
                  l.status().sysErrno());
  auto s = std::make_unique<StoreServer>(std::move(l.value()), clients);
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

StoreServer::StoreServer(std::unique_ptr<Listener> listener, int clients)
    : listener_(std::move(listener)), clients_(clients) {}

StoreServer::~StoreServer() { stop(std::chrono::milliseconds(0)); }

void StoreServer::stop(std::chrono::milliseconds grace) {
  auto until = Clock::now() + grace;
  while (goodbyes_.load() < clients_ && Clock::now() < until && !stop_.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void StoreServer::run() {
  std::vector<Client> clients;
  std::vector<PendingGet> gets;
  std::map<std::string, std::string> table;
  while (!stop_.load()) {
    // accept() doubles as the loop's pause when nothing else is going on.
    auto ch = listener_->accept(std::chrono::milliseconds(1));
    if (ch) {
      Client c;
      c.ch = std::move(ch.value());
      c.buf.resize(kReqHeader + kMaxKey + kMaxStoreValue);
      clients.push_back(std::move(c));
    }
    for (size_t i = 0; i < clients.size(); ++i) {
      Client& c = clients[i];
      if (c.gone) continue;
      if (!c.req.valid()) {
        auto r = c.ch->irecv(c.buf.data(), c.buf.size(), kReqTag);
        if (!r) { c.gone = true; continue; }
        c.req = r.value();
      }
      if (!c.req.test()) continue;
      Request done = c.req;
      c.req = Request();
      if (!done.status()) { c.gone = true; continue; }  // client closed or died
      const uint8_t* p = c.buf.data();
      size_t n = done.bytes();
      uint32_t klen = n >= kReqHeader ? get32(p + 1) : 0;
      if (n < kReqHeader || klen > kMaxKey || kReqHeader + klen > n) {
        respond(c, StatusCode::kProtocolError, "malformed store request");
        c.gone = true;
        continue;
      }
      std::string key(reinterpret_cast<const char*>(p + 5), klen);
      uint64_t timeout_ms = get64(p + 5 + klen);
      std::string value(reinterpret_cast<const char*>(p + kReqHeader + klen), n - kReqHeader - klen);
      if (p[0] == kSet) {
        table[key] = value;
        respond(c, StatusCode::kOk, "");
      } else if (p[0] == kGet) {
        gets.push_back({i, key, Clock::now() + std::chrono::milliseconds(
                                                   std::min<uint64_t>(timeout_ms, 86400000))});
      } else if (p[0] == kBye) {
        respond(c, StatusCode::kOk, "");
        goodbyes_.fetch_add(1);
        c.gone = true;
      } else {
        respond(c, StatusCode::kProtocolError, "unknown store operation");
        c.gone = true;
      }
    }
    auto now = Clock::now();
    for (size_t g = 0; g < gets.size();) {
      Client& c = clients[gets[g].client];
      auto it = table.find(gets[g].key);
      if (!c.gone && it != table.end()) {
        respond(c, StatusCode::kOk, it->second);
      } else if (!c.gone && now >= gets[g].deadline) {
        respond(c, StatusCode::kTimedOut,
                "no rank has set '" + gets[g].key + "' in the rendezvous store");
      } else if (!c.gone) {
        ++g;
        continue;
      }
      gets.erase(gets.begin() + long(g));
    }
  }
}

Result<std::unique_ptr<StoreClient>> StoreClient::connect(const std::string& host, uint16_t port,
                                                          const ChannelOptions& options,
                                                          std::chrono::milliseconds timeout) {
  ChannelOptions o = options;
  o.lanes = 1;
  std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                      std::to_string(port);
  auto until = Clock::now() + timeout;
  Status last;
  // Rank 0 may start later than we do: retry until the deadline.
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    o.connect_timeout = std::max(std::chrono::milliseconds(100),
                                 std::min(left, std::chrono::milliseconds(5000)));
    auto ch = Channel::connect("tcp://" + where, o);
    if (ch) return std::make_unique<StoreClient>(std::move(ch.value()), where);
    last = ch.status();
    if (Clock::now() + std::chrono::milliseconds(50) >= until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status(StatusCode::kTimedOut,
                "no rendezvous store at " + where + " (MASTER_ADDR:MASTER_PORT, served by rank 0) "
                "after " + std::to_string(timeout.count()) + " ms: " + last.toString() +
                    "; check that rank 0 runs and that MASTER_ADDR/MASTER_PORT agree");
}

StoreClient::StoreClient(std::unique_ptr<Channel> ch, std::string where)
    : ch_(std::move(ch)), where_(std::move(where)) {}

Result<std::string> StoreClient::call(uint8_t op, const std::string& key, const std::string& value,
                                      std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!ch_) return Status(StatusCode::kCancelled, "the rendezvous store connection is closed");
  if (key.size() > kMaxKey || value.size() > kMaxStoreValue)
    return Status(StatusCode::kInvalidArgument, "store key or value too large: '" + key + "'");
  std::vector<uint8_t> req(kReqHeader + key.size() + value.size());
  req[0] = op;
  put32(req.data() + 1, uint32_t(key.size()));
  std::memcpy(req.data() + 5, key.data(), key.size());
  put64(req.data() + 5 + key.size(), uint64_t(std::max<int64_t>(timeout.count(), 0)));
  std::memcpy(req.data() + kReqHeader + key.size(), value.data(), value.size());
  std::vector<uint8_t> resp(1 + std::max(kMaxStoreValue, size_t{4096}));
  auto what = [&](const Status& s) {
    return Status(s.code(), "rendezvous store at " + where_ + ", key '" + key + "': " +
                                s.toString());
  };
  if (Status s = ch_->send(req.data(), req.size(), kReqTag, timeout); !s) return what(s);
  // The server answers a get at its own deadline; allow a little beyond it.
  // The blocking recv withdraws itself on timeout, so resp may then go.
  auto got = ch_->recv(resp.data(), resp.size(), kRespTag, timeout + std::chrono::seconds(5));
  if (!got) return what(got.status());
  size_t n = got.value();
  if (n < 1) return what(Status(StatusCode::kProtocolError, "empty answer"));
  std::string body(reinterpret_cast<const char*>(resp.data() + 1), n - 1);
  if (resp[0] != uint8_t(StatusCode::kOk)) {
    StatusCode code = resp[0] <= uint8_t(StatusCode::kCancelled) ? StatusCode(resp[0])
                                                                 : StatusCode::kProtocolError;
    return what(Status(code, body));
  }
  return body;
}

Status StoreClient::set(const std::string& key, const std::string& value) {
  auto r = call(kSet, key, value, std::chrono::seconds(30));
  return r.status();
}

Result<std::string> StoreClient::get(const std::string& key, std::chrono::milliseconds timeout) {
  return call(kGet, key, "", timeout);
}

void StoreClient::bye() {
  (void)call(kBye, "", "", std::chrono::seconds(10));
  std::lock_guard<std::mutex> lk(mu_);
  if (ch_) (void)ch_->close(std::chrono::seconds(2));
  ch_.reset();
}

}  // namespace farlink::coll
