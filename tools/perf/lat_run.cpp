// Latency runs: ping-pong of `size` bytes; one-way latency = RTT / 2 as in
// perftest. Both sides sleep in the library while waiting: spinning on
// test() lost whole scheduler slices (ms) once cores were shared, while a
// sleeping waiter is woken within microseconds.
#include <cstring>
#include <vector>

#include "common/report.h"
#include "perf/runs.h"
#include "perf/windows.h"

namespace farlink::perf {
namespace {

constexpr uint64_t kUnknown = ~uint64_t{0};
constexpr std::chrono::milliseconds kSlice{10};

// Sleeps in the library until done, checking for a stalled peer now and then.
Status waitUntilDone(Request& r, const Channel& ch, const StallGuard& stall) {
  for (;;) {
    Status s = r.wait(std::chrono::milliseconds{1000});
    if (s.code() != StatusCode::kTimedOut) return s;
    FL_TRY(stall.check(ch, "latency test"));
  }
}

Status wrongSize(const Channel& ch, size_t got, size_t want) {
  return Status(StatusCode::kProtocolError, "received a " + std::to_string(got) +
                                                "-byte message from " + ch.peer() + ", expected " +
                                                std::to_string(want));
}

// Requests may still point into this function's buffers when it fails; with
// no per-request cancel, closing the channel is what releases them.
Status abortWith(Channel& ch, Status s) {
  (void)ch.close(std::chrono::milliseconds{0});
  return s;
}

}  // namespace

Result<RunOutcome> runLatClient(Channel& ch, ControlPoller& down, const TestSpec& spec) {
  const size_t size = spec.size;
  SlotBuffers buffers(size, 2);
  uint8_t* tx = buffers.slot(0);
  uint8_t* rx = buffers.slot(1);
  if (!spec.verify()) fillPattern(tx, size, kSeedUp);
  std::vector<double> samples_us;
  samples_us.reserve(spec.iters ? spec.iters : 1u << 16);
  FL_TRY(requestRun(ch, down, spec));
  const auto deadline = Clock::now() + std::chrono::milliseconds(spec.duration_ms);
  uint64_t n = 0;
  uint64_t errors = 0;
  StallGuard stall;
  // One clock read per round trip, as perftest takes one timestamp per
  // iteration: a sample is the time between two round trips' starts. Where
  // reading the clock is a syscall (the TCG guest: 3-4 us) a second read
  // per round trip would be counted against farlink alone. --verify
  // restarts the clock after writing the pattern, keeping that out.
  auto t0 = Clock::now();
  while (spec.iters ? n < spec.iters : (n == 0 || t0 < deadline)) {
    if (spec.verify()) {
      fillPattern(tx, size, kSeedUp + n);
      t0 = Clock::now();
    }
    // Send first, as sockperf does: posting the receive then overlaps the
    // ping's flight instead of delaying it. A pong cannot come back before
    // a round trip; one that did would be matched from the unexpected queue.
    Result<Request> ping = ch.isend(tx, size, kTagData);
    if (!ping) return abortWith(ch, ping.status());
    Result<Request> pong = ch.irecv(rx, size, kTagDataBack);
    if (!pong) return abortWith(ch, pong.status());
    if (Status s = waitUntilDone(*pong, ch, stall); !s) return abortWith(ch, s);
    if (Status s = ping->wait(kControlTimeout); !s) return abortWith(ch, s);
    const auto t1 = Clock::now();
    samples_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / 2);
    t0 = t1;
    if (pong->bytes() != size) return wrongSize(ch, pong->bytes(), size);
    if (spec.verify() && std::memcmp(tx, rx, size) != 0) ++errors;
    stall.progressed();
    ++n;
  }

  ControlMsg end;
  end.type = MsgType::kEnd;
  end.count = n;
  FL_TRY(sendControl(ch, kTagControlUp, end, kControlTimeout));
  Result<ControlMsg> result = down.wait(kControlTimeout);
  if (!result) return result.status();
  if (result->type != MsgType::kResult) return unexpectedMessage(*result, "RESULT");
  RunOutcome out;
  out.server = result->report;
  FL_TRY(checkExcess(out.server, spec));

  const tools::LatencyStats st = tools::summarizeLatency(samples_us);
  out.client.messages = n;
  out.client.verify_errors = errors;
  const double values[7] = {st.min_us,   st.max_us, st.typical_us, st.avg_us,
                            st.stdev_us, st.p99_us, st.p999_us};
  std::copy(std::begin(values), std::end(values), out.client.latency_us);
  ControlMsg mine;
  mine.type = MsgType::kResult;
  mine.report = out.client;
  FL_TRY(sendControl(ch, kTagControlUp, mine, kControlTimeout));
  FL_TRY(sendFillers(ch, kTagData, out.server.excess, kControlTimeout));
  return out;
}

Result<RunOutcome> runLatServer(Channel& ch, ControlPoller& up, const TestSpec& spec) {
  const size_t size = spec.size;
  SlotBuffers buffers(size, 1);
  uint8_t* buf = buffers.slot(0);
  FL_TRY(acceptRun(ch));
  Request ping;
  uint64_t done = 0;
  uint64_t expected = kUnknown;
  uint64_t errors = 0;
  StallGuard stall;
  for (;;) {
    if (!ping.valid() && done < expected) {
      Result<Request> r = ch.irecv(buf, size, kTagData);
      if (!r) return r.status();
      ping = std::move(r).value();
    }
    // END only follows the last pong, so the control tag is read when no
    // ping came within a slice (which then costs one slice, once per run).
    Status s = ping.valid() ? ping.wait(kSlice) : Status(StatusCode::kTimedOut, "");
    if (s.code() != StatusCode::kTimedOut) {
      if (!s) return s;
      if (ping.bytes() != size) return wrongSize(ch, ping.bytes(), size);
      if (spec.verify() && !checkPattern(buf, size, kSeedUp + done)) ++errors;
      ping = Request();
      FL_TRY(ch.send(buf, size, kTagDataBack, kControlTimeout));
      ++done;
      stall.progressed();
      continue;
    }
    if (expected == kUnknown) {
      Result<std::optional<ControlMsg>> m = up.poll();
      if (!m) return abortWith(ch, m.status());
      if (*m) {
        if ((*m)->type != MsgType::kEnd) return abortWith(ch, unexpectedMessage(**m, "END"));
        expected = (*m)->count;
        if (expected < done || expected == 0 || expected > kMaxIterations)
          return abortWith(
              ch, Status(StatusCode::kProtocolError, "END count " + std::to_string(expected) +
                                                         " is impossible after " +
                                                         std::to_string(done) + " pings"));
      }
    }
    if (done == expected) break;
    if (Status st = stall.check(ch, "latency test"); !st) return abortWith(ch, st);
  }

  RunOutcome out;
  out.server.messages = done;
  out.server.excess = ping.valid() ? 1 : 0;
  out.server.verify_errors = errors;
  ControlMsg result;
  result.type = MsgType::kResult;
  result.report = out.server;
  if (Status s = sendControl(ch, kTagControlDown, result, kControlTimeout); !s)
    return abortWith(ch, s);
  Result<ControlMsg> theirs = up.wait(kControlTimeout);
  if (!theirs) return abortWith(ch, theirs.status());
  if (theirs->type != MsgType::kResult) return abortWith(ch, unexpectedMessage(*theirs, "RESULT"));
  out.client = theirs->report;
  if (ping.valid()) {
    if (Status s = ping.wait(kControlTimeout); !s) return abortWith(ch, s);
    if (ping.bytes() != 1) return wrongSize(ch, ping.bytes(), 1);
  }
  return out;
}

}  // namespace farlink::perf
