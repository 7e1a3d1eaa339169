// How long a TCP channel with session resume (FARLINK_RESUME_TIMEOUT) stalls
// when every lane is reset: a sender streams messages through a relay that
// resets all relayed connections (tests/transport/cut_relay.h) every
// --every ms; for each cut, the time from the cut to the next message the
// receiver completes, printed in ms and as a multiple of the channel's RTT
// (ping-pong of 8-byte messages, median of 200, measured before the cuts).
// Loopback, one process:  build/bench/resume_time [--cuts N] [--every MS]
//   [--lanes N] [--size BYTES]
// Across a link (e.g. farlink-wanem), two processes: the receiving side runs
// the relay and measures, `--serve PORT` (relay on 0.0.0.0:PORT); the
// sending side connects to it, `--connect HOST:PORT` (same --lanes).
// `--blackout MS --wanem NAME` (receiving side, across farlink-wanem):
// instead of resetting the lanes, each cut is `farlink-wanem ctl --name
// NAME blackout MS` (WANEM_BIN, else farlink-wanem from PATH), long enough
// that the lanes are declared dead and resume; the time is then counted
// from the end of the blackout (taken as the moment before the ctl call
// plus MS, which can only overstate it). No relay then: the receiving side
// listens on 0.0.0.0:PORT itself.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
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

constexpr int kPings = 200;

// The sending end: echoes the receiver's pings, then streams messages
// until the receiver says stop (tag 9), then a 0-byte message ends it.
int runSender(Channel& tx, size_t size) {
  uint64_t v = 0;
  for (int i = 0; i < kPings; ++i)
    if (!tx.recv(&v, 8, 1, std::chrono::seconds(30)) || !tx.send(&v, 8, 2))
      return die("ping-pong failed on the sending side");
  char stop_byte = 0;
  auto stop = tx.irecv(&stop_byte, 1, 9);
  if (!stop) return die(stop.status().toString());
  std::vector<char> buf(size, 'x');
  std::deque<Request> q;
  while (!stop->test()) {
    auto r = tx.isend(buf.data(), size, 3);
    if (!r) return die("send failed: " + r.status().toString());
    q.push_back(*r);
    if (q.size() >= 4) {
      if (Status s = q.front().wait(std::chrono::seconds(60)); !s)
        return die("send: " + s.toString());
      q.pop_front();
    }
  }
  // With resume a send completes once the peer acknowledged it, so the
  // receiver keeps driving until this 0-byte message ends the stream.
  auto end = tx.isend(buf.data(), 0, 3);
  if (end) q.push_back(*end);
  for (auto& r : q) (void)r.wait(std::chrono::seconds(60));
  return tx.close(std::chrono::seconds(10)) ? 0 : 1;
}

// The receiving end, which owns the relay: pings for the RTT, then receives
// the stream while the relay resets every lane `cuts` times.
struct Cut {
  int blackout_ms = 0;  // 0: reset every lane through the relay
  std::string wanem;    // the link's name, for a blackout
};

// Cuts the link now; the time from which the stall is counted, or nullopt.
std::optional<Clock::time_point> cutLink(test::CutRelay* relay, const Cut& how) {
  if (how.blackout_ms == 0) {
    relay->cutNow();
    return relay->lastCut();
  }
  const char* bin = std::getenv("WANEM_BIN");
  std::string cmd = std::string(bin ? bin : "farlink-wanem") + " ctl --name '" + how.wanem +
                    "' blackout " + std::to_string(how.blackout_ms) + "ms >/dev/null";
  Clock::time_point before = Clock::now();
  if (std::system(cmd.c_str()) != 0) return std::nullopt;
  return before + std::chrono::milliseconds(how.blackout_ms);
}

int runReceiver(Channel& rx, test::CutRelay* relay, int cuts, int every_ms, size_t size,
                const char* where, const Cut& how) {
  std::vector<double> rtts;
  uint64_t v = 0;
  for (int i = 0; i < kPings; ++i) {
    auto t0 = Clock::now();
    if (!rx.send(&v, 8, 1) || !rx.recv(&v, 8, 2, std::chrono::seconds(30)))
      return die("ping-pong failed on the receiving side");
    rtts.push_back(ms(Clock::now() - t0));
  }
  std::sort(rtts.begin(), rtts.end());
  double rtt = rtts[rtts.size() / 2];
  std::mutex mu;
  std::vector<Clock::time_point> arrivals;
  std::string failed;
  std::thread receiver([&] {
    std::vector<char> buf(size);
    for (;;) {
      auto r = rx.recv(buf.data(), size, 3, std::chrono::seconds(60));
      std::lock_guard lk(mu);
      if (!r) {
        failed = r.status().toString();
        return;
      }
      if (*r == 0) return;  // the end of the stream
      arrivals.push_back(Clock::now());
    }
  });
  std::vector<double> stalls;
  for (int k = 0; k < cuts; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(every_ms));
    std::optional<Clock::time_point> cut_or = cutLink(relay, how);
    if (!cut_or) {
      std::fprintf(stderr, "resume_time: farlink-wanem ctl blackout failed\n");
      break;
    }
    Clock::time_point cut = *cut_or;
    Clock::time_point limit = cut + std::chrono::seconds(30);
    for (;;) {  // the first message completed after the cut
      {
        std::lock_guard lk(mu);
        if (!failed.empty()) break;
        auto it = std::upper_bound(arrivals.begin(), arrivals.end(), cut);
        if (it != arrivals.end()) {
          stalls.push_back(ms(*it - cut));
          break;
        }
      }
      if (Clock::now() > limit) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (stalls.size() != size_t(k + 1)) break;
  }
  char stop_byte = 1;
  auto stop = rx.isend(&stop_byte, 1, 9);
  receiver.join();
  if (stop) (void)stop->wait(std::chrono::seconds(10));
  if (!failed.empty()) return die("receive failed: " + failed);
  if (stalls.size() != size_t(cuts)) return die("no message arrived within 30 s of a cut");
  std::string what = how.blackout_ms == 0
                         ? std::string("after a reset of every lane")
                         : "after the end of a " + std::to_string(how.blackout_ms) +
                               " ms blackout (" + how.wanem + ")";
  std::sort(stalls.begin(), stalls.end());
  double med = stalls[stalls.size() / 2], worst = stalls.back();
  auto st = rx.stats();
  std::printf("# resume %s, %d lanes, %s, %zu-byte messages, %d cuts\n", what.c_str(), st.lanes,
              where, size, cuts);
  std::printf("rtt_ms %.3f\nresume_ms_median %.2f\nresume_ms_max %.2f\n", rtt, med, worst);
  std::printf("resume_rtt_multiple_median %.1f\nresume_rtt_multiple_max %.1f\n", med / rtt,
              worst / rtt);
  std::printf("resumes %llu\n", static_cast<unsigned long long>(st.resumes));
  (void)rx.close(std::chrono::seconds(10));
  return st.resumes == uint64_t(cuts) ? 0 : die("expected " + std::to_string(cuts) + " resumes");
}

}  // namespace

int main(int argc, char** argv) {
  int cuts = 10, every_ms = 300, lanes = 4, serve_port = -1;
  Cut how;
  size_t size = 64 * 1024;
  std::string connect;
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
    else if (a == "--serve")
      serve_port = int(v);
    else if (a == "--connect")
      connect = argv[i + 1];
    else if (a == "--blackout")
      how.blackout_ms = int(v);
    else if (a == "--wanem")
      how.wanem = argv[i + 1];
    else
      return die("unknown option " + a +
                 " (--cuts N --every MS --lanes N --size BYTES --serve PORT --connect HOST:PORT"
                 " --blackout MS --wanem NAME)");
  }
  if ((how.blackout_ms > 0) != !how.wanem.empty() || (how.blackout_ms > 0 && serve_port < 0))
    return die("--blackout MS and --wanem NAME go together, with --serve PORT");
  if (cuts < 1 || lanes < 1 || size < 1) return die("--cuts, --lanes and --size must be positive");
  ChannelOptions o;
  o.lanes = lanes;
  o.resume_timeout = std::chrono::seconds(30);
  if (!connect.empty()) {
    auto tx = Channel::connect("tcp://" + connect, o);
    if (!tx) return die(tx.status().toString());
    return runSender(**tx, size);
  }
  if (how.blackout_ms > 0) {
    // No relay: its loopback side would never see the blackout, so this
    // end would not notice the cut (and not accept the reconnect) until the
    // relay's far side closed.
    auto listener = Listener::listen("tcp://0.0.0.0:" + std::to_string(serve_port), o);
    if (!listener) return die(listener.status().toString());
    std::printf("listening\n");
    std::fflush(stdout);
    auto rx = (*listener)->accept(std::chrono::seconds(60));
    if (!rx) return die(rx.status().toString());
    return runReceiver(**rx, nullptr, cuts, every_ms, size, "across the link", how);
  }
  auto listener = Listener::listen("tcp://127.0.0.1:0", o);
  if (!listener) return die(listener.status().toString());
  test::CutRelay relay((*listener)->port(), serve_port >= 0 ? "0.0.0.0" : "127.0.0.1",
                       uint16_t(std::max(serve_port, 0)));
  if (!relay.error().empty()) return die(relay.error());
  auto accepted =
      std::async(std::launch::async, [&] { return (*listener)->accept(std::chrono::seconds(60)); });
  if (serve_port >= 0) {  // the sender is another process
    auto rx = accepted.get();
    if (!rx) return die(rx.status().toString());
    return runReceiver(**rx, &relay, cuts, every_ms, size, "across the link", how);
  }
  auto tx = Channel::connect(relay.uri(), o);
  if (!tx) return die(tx.status().toString());
  auto rx = accepted.get();
  if (!rx) return die(rx.status().toString());
  int sent = 0;
  std::thread sender([&] { sent = runSender(**tx, size); });
  int rc = runReceiver(**rx, &relay, cuts, every_ms, size, "loopback", how);
  sender.join();
  return rc != 0 ? rc : sent;
}
