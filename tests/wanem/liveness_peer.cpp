// One end of a farlink channel for the wanem liveness tests, run inside a
// namespace by `farlink-wanem exec`. After a first exchange (so every lane
// has an RTT sample) it prints "ready rtt_us=N" and then:
//   quiet   waits in a receive for up to 60 s; when the channel fails it
//           prints "dead at_ms=T rtt_us=N: <status>" (T: steady clock, the
//           test's own clock too) and exits 3
//   sleep   (server) leaves the channel untouched for SECONDS, then
//           receives BYTES and checks them; exits 0 when all arrived
//   flood   (client) sends BYTES in one message and waits; exits 0 when the
//           peer took it all, 3 (with the status) when the channel failed
// Usage: liveness-peer serve|connect ADDRESS PORT quiet|sleep|flood [SECONDS] [BYTES]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "farlink/channel.h"

using namespace farlink;

namespace {

int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int die(const std::string& what, const Status& s) {
  std::printf("error %s: %s\n", what.c_str(), s.toString().c_str());
  return 2;
}

uint8_t pattern(size_t i) { return static_cast<uint8_t>((i * 131) ^ (i >> 13)); }

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s serve|connect ADDRESS PORT quiet|sleep|flood [SECONDS] [BYTES]\n",
                 argv[0]);
    return 2;
  }
  std::string role = argv[1], uri = std::string("tcp://") + argv[2] + ":" + argv[3], mode = argv[4];
  int seconds = argc > 5 ? std::atoi(argv[5]) : 0;
  size_t bytes = argc > 6 ? std::strtoull(argv[6], nullptr, 10) : 0;
  auto opts = ChannelOptions::fromEnvironment();
  if (!opts) return die("options", opts.status());
  std::unique_ptr<Listener> listener;
  std::unique_ptr<Channel> ch;
  if (role == "serve") {
    auto l = Listener::listen(uri, *opts);
    if (!l) return die("listen", l.status());
    listener = std::move(*l);
    std::printf("listening\n");
    auto c = listener->accept(std::chrono::seconds(20));
    if (!c) return die("accept", c.status());
    ch = std::move(*c);
  } else {
    auto c = Channel::connect(uri, *opts);
    if (!c) return die("connect", c.status());
    ch = std::move(*c);
  }
  char hello[64] = "hello", got[64];
  auto r = ch->irecv(got, sizeof got, 1);
  if (!r) return die("irecv", r.status());
  if (Status s = ch->send(hello, sizeof hello, 1); !s) return die("send", s);
  if (Status s = r->wait(std::chrono::seconds(10)); !s) return die("first exchange", s);
  double rtt = ch->stats().lane.at(0).rtt_us;
  std::printf("ready rtt_us=%.0f\n", rtt);

  if (mode == "quiet") {
    auto q = ch->irecv(got, sizeof got, 2);
    if (!q) return die("irecv", q.status());
    Status s = q->wait(std::chrono::seconds(60));
    if (s.code() == StatusCode::kTimedOut) {
      std::printf("alive after 60 s\n");
      return 0;
    }
    std::printf("dead at_ms=%lld rtt_us=%.0f: %s\n", static_cast<long long>(steadyMs()), rtt,
                s.toString().c_str());
    return 3;
  }
  if (mode == "flood") {
    std::vector<uint8_t> out(bytes);
    for (size_t i = 0; i < bytes; ++i) out[i] = pattern(i);
    auto t0 = std::chrono::steady_clock::now();
    Status s = ch->send(out.data(), out.size(), 3);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!s) {
      std::printf("flood failed after %.1f s: %s\n", secs, s.toString().c_str());
      return 3;
    }
    std::printf("flood sent %zu bytes in %.1f s\n", bytes, secs);
    return ch->close(std::chrono::seconds(20)).isOk() ? 0 : 3;
  }
  if (mode == "sleep") {
    std::printf("sleeping %d s\n", seconds);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    std::vector<uint8_t> in(bytes);
    auto q = ch->irecv(in.data(), in.size(), 3);
    if (!q) return die("irecv", q.status());
    if (Status s = q->wait(std::chrono::seconds(60)); !s) return die("receive after sleeping", s);
    for (size_t i = 0; i < bytes; ++i)
      if (in[i] != pattern(i)) {
        std::printf("byte %zu differs\n", i);
        return 3;
      }
    std::printf("received %zu bytes\n", q->bytes());
    return ch->close(std::chrono::seconds(20)).isOk() ? 0 : 3;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
