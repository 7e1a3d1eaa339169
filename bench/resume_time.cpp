// How long a TCP channel with session resume (FARLINK_RESUME_TIMEOUT) stalls
// when every lane is reset: a sender streams messages through a relay that
// resets all relayed connections (tests/transport/cut_relay.h) every
// --every ms; for each cut, the time from the cut to the next message the
// receiver completes, printed in ms and as a multiple of the channel's RTT
// (ping-pong of 8-byte messages, median of 200, measured before the cuts).
// Loopback, one process. Run: build/bench/resume_time [--cuts N] [--every MS]
//   [--lanes N] [--size BYTES]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cut_relay.h"
#include "farlink/channel.h"

using namespace farlink;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

int die(const std::string& what) {
  std::fprintf(stderr, "resume_time: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int cuts = 10, every_ms = 300, lanes = 4;
  size_t size = 64 * 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    long v = std::strtol(argv[i + 1], nullptr, 10);
    if (a == "--cuts")
      cuts = int(v);
    else if (a == "--every")
      every_ms = int(v);
    else if (a == "--lanes")
      lanes = int(v);
    else if (a == "--size")
      size = size_t(v);
    else
      return die("unknown option " + a + " (--cuts N --every MS --lanes N --size BYTES)");
  }
  ChannelOptions o;
  o.lanes = lanes;
  o.resume_timeout = std::chrono::seconds(30);
  auto listener = Listener::listen("tcp://127.0.0.1:0", o);
  if (!listener) return die(listener.status().toString());
  test::CutRelay relay((*listener)->port());
  if (!relay.error().empty()) return die(relay.error());
  auto accepted =
      std::async(std::launch::async, [&] { return (*listener)->accept(std::chrono::seconds(10)); });
  auto client = Channel::connect(relay.uri(), o);
  auto server = accepted.get();
  if (!client) return die(client.status().toString());
  if (!server) return die(server.status().toString());
  Channel& tx = **client;
  Channel& rx = **server;

  // RTT: 8-byte ping-pong through the relay.
  std::vector<double> rtts;
  {
    uint64_t v = 0;
    std::thread echo([&] {
      uint64_t e = 0;
      for (int i = 0; i < 200; ++i)
        if (!rx.recv(&e, 8, 1) || !rx.send(&e, 8, 2)) return;
    });
    for (int i = 0; i < 200; ++i) {
      auto t0 = Clock::now();
      if (!tx.send(&v, 8, 1) || !tx.recv(&v, 8, 2)) return die("ping-pong failed");
      rtts.push_back(ms(Clock::now() - t0));
    }
    echo.join();
  }
  std::sort(rtts.begin(), rtts.end());
  double rtt = rtts[rtts.size() / 2];

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Clock::time_point> arrivals;
  std::thread sender([&] {
    std::vector<char> buf(size, 'x');
    std::deque<Request> q;
    while (!stop) {
      auto r = tx.isend(buf.data(), size, 3);
      if (!r) {
        std::fprintf(stderr, "resume_time: send failed: %s\n", r.status().toString().c_str());
        return;
      }
      q.push_back(*r);
      if (q.size() >= 4) {
        if (!q.front().wait(std::chrono::seconds(30))) return;
        q.pop_front();
      }
    }
    // A 0-byte message ends the stream (the receiver drives until it comes;
    // with resume a send completes only once the peer acknowledged it).
    auto end = tx.isend(buf.data(), 0, 3);
    if (end) q.push_back(*end);
    for (auto& r : q) (void)r.wait(std::chrono::seconds(30));
  });
  std::thread receiver([&] {
    std::vector<char> buf(size);
    for (;;) {
      auto r = rx.recv(buf.data(), size, 3, std::chrono::seconds(30));
      if (!r) {
        std::fprintf(stderr, "resume_time: receive failed: %s\n", r.status().toString().c_str());
        return;
      }
      if (*r == 0) return;  // the end of the stream
      std::lock_guard lk(mu);
      arrivals.push_back(Clock::now());
    }
  });
  std::vector<double> stalls;
  for (int k = 0; k < cuts; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(every_ms));
    relay.cutNow();
    Clock::time_point cut = relay.lastCut();
    // The first message completed after the cut.
    Clock::time_point limit = cut + std::chrono::seconds(10);
    for (;;) {
      {
        std::lock_guard lk(mu);
        auto it = std::upper_bound(arrivals.begin(), arrivals.end(), cut);
        if (it != arrivals.end()) {
          stalls.push_back(ms(*it - cut));
          break;
        }
      }
      if (Clock::now() > limit)
        return die("no message arrived within 10 s of cut " + std::to_string(k + 1));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  stop = true;
  sender.join();
  receiver.join();
  std::sort(stalls.begin(), stalls.end());
  double med = stalls[stalls.size() / 2], worst = stalls.back();
  std::printf("# resume after a reset of all %d lanes, loopback, %zu-byte messages, %d cuts\n",
              lanes, size, cuts);
  std::printf("rtt_ms %.3f\nresume_ms_median %.2f\nresume_ms_max %.2f\n", rtt, med, worst);
  std::printf("resume_rtt_multiple_median %.1f\n", med / rtt);
  auto st = tx.stats();
  std::printf("resumes %llu\n", static_cast<unsigned long long>(st.resumes));
  return st.resumes == uint64_t(cuts) ? 0 : die("expected " + std::to_string(cuts) + " resumes");
}
