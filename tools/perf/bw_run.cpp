// Bandwidth runs: the client streams `size`-byte messages with up to `depth`
// isends outstanding; the receiver keeps as many irecvs posted and meters
// completions. With --bidir the server streams back at the same time.
#include <limits>
#include <optional>

#include "perf/runs.h"
#include "perf/windows.h"

namespace farlink::perf {
namespace {

constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();
// Unidirectional loops block this long per wait, so they still notice
// control messages and deadlines promptly without spinning a core.
constexpr std::chrono::milliseconds kSlice{10};

// END carries the sender's final count; it must not undercut what arrived.
Status applyEnd(const ControlMsg& m, RecvWindow& rx, uint64_t received) {
  if (m.type != MsgType::kEnd) return unexpectedMessage(m, "END");
  if (m.count < received || m.count < 2 || m.count > kMaxIterations)
    return Status(StatusCode::kProtocolError, "END count " + std::to_string(m.count) +
                                                  " is impossible after " +
                                                  std::to_string(received) + " messages");
  rx.setExpected(m.count);
  return Status::ok();
}

}  // namespace

Result<RunOutcome> runBwClient(Channel& ch, ControlPoller& down, const TestSpec& spec) {
  const bool bidir = spec.bidir();
  SendWindow tx(ch, kTagData, spec.size, spec.depth, spec.verify(), kSeedUp);
  std::optional<RecvWindow> rx;
  if (bidir) rx.emplace(ch, kTagDataBack, spec.size, spec.depth, spec.verify(), kSeedDown);
  // Receives go up before the run can start (as perftest pre-posts): a
  // message that finds none is staged and copied, and the sender, whose
  // isends complete into the kernel, then stays that far ahead for the rest
  // of the run, so every later message pays the copy too.
  if (rx) FL_TRY(rx->post());
  FL_TRY(requestRun(ch, down, spec));
  if (rx) rx->startClock();
  const auto deadline = Clock::now() + std::chrono::milliseconds(spec.duration_ms);
  uint64_t limit = spec.iters ? spec.iters : kNoLimit;
  uint64_t rx_done = 0;
  bool end_sent = false;
  StallGuard stall;
  for (;;) {
    if (limit == kNoLimit && tx.started() >= 2 && Clock::now() >= deadline) limit = tx.started();
    if (!end_sent && tx.started() == limit) {
      ControlMsg end;
      end.type = MsgType::kEnd;
      end.count = limit;
      FL_TRY(sendControl(ch, kTagControlUp, end, kControlTimeout));
      end_sent = true;
    }
    if (end_sent && tx.pending() == 0 && (!bidir || rx->complete())) break;
    FL_TRY(tx.post(limit));
    int moved = 0;
    if (bidir) {
      FL_TRY(rx->post());
      Result<int> a = reapAll(tx, std::chrono::milliseconds{0});
      if (!a) return a.status();
      Result<int> b = reapAll(*rx, std::chrono::milliseconds{0});
      if (!b) return b.status();
      rx_done += static_cast<uint64_t>(*b);
      moved = *a + *b;
      if (!rx->expectedKnown()) {
        Result<std::optional<ControlMsg>> m = down.poll();
        if (!m) return m.status();
        if (*m) FL_TRY(applyEnd(**m, *rx, rx_done));
      }
      // Both windows idle: sleep in the library until some I/O completes.
      if (moved == 0) FL_TRY(ch.progress(std::chrono::milliseconds{1}));
    } else {
      Result<int> a = reapAll(tx, kSlice);
      if (!a) return a.status();
      moved = *a;
    }
    if (moved)
      stall.progressed();
    else
      FL_TRY(stall.check(ch, "bandwidth test"));
  }

  Result<ControlMsg> result = down.wait(kControlTimeout);
  if (!result) return result.status();
  if (result->type != MsgType::kResult) return unexpectedMessage(*result, "RESULT");
  RunOutcome out;
  out.server = result->report;
  FL_TRY(checkExcess(out.server, spec));
  if (bidir) {
    out.client = rx->report();
    ControlMsg mine;
    mine.type = MsgType::kResult;
    mine.report = out.client;
    FL_TRY(sendControl(ch, kTagControlUp, mine, kControlTimeout));
  }
  FL_TRY(sendFillers(ch, kTagData, out.server.excess, kControlTimeout));
  if (bidir) FL_TRY(rx->drainFillers(kControlTimeout));
  return out;
}

Result<RunOutcome> runBwServer(Channel& ch, ControlPoller& up, const TestSpec& spec) {
  const bool bidir = spec.bidir();
  RecvWindow rx(ch, kTagData, spec.size, spec.depth, spec.verify(), kSeedUp);
  std::optional<SendWindow> tx;
  if (bidir) tx.emplace(ch, kTagDataBack, spec.size, spec.depth, spec.verify(), kSeedDown);
  FL_TRY(rx.post());  // before the client may send: see runBwClient
  FL_TRY(acceptRun(ch));
  rx.startClock();
  uint64_t tx_limit = spec.iters ? spec.iters : kNoLimit;
  uint64_t rx_done = 0;
  bool end_sent = !bidir;
  StallGuard stall;
  for (;;) {
    if (!rx.expectedKnown()) {
      Result<std::optional<ControlMsg>> m = up.poll();
      if (!m) return m.status();
      if (*m) {
        FL_TRY(applyEnd(**m, rx, rx_done));
        // Duration mode: the client's END also ends the server's stream.
        if (tx && tx_limit == kNoLimit) tx_limit = std::max<uint64_t>(tx->started(), 2);
      }
    }
    if (!end_sent && tx->started() == tx_limit) {
      ControlMsg end;
      end.type = MsgType::kEnd;
      end.count = tx_limit;
      FL_TRY(sendControl(ch, kTagControlDown, end, kControlTimeout));
      end_sent = true;
    }
    if (rx.complete() && end_sent && (!tx || tx->pending() == 0)) break;
    FL_TRY(rx.post());
    if (tx) FL_TRY(tx->post(tx_limit));
    Result<int> a = reapAll(rx, bidir ? std::chrono::milliseconds{0} : kSlice);
    if (!a) return a.status();
    rx_done += static_cast<uint64_t>(*a);
    int moved = *a;
    if (tx) {
      Result<int> b = reapAll(*tx, std::chrono::milliseconds{0});
      if (!b) return b.status();
      moved += *b;
      if (moved == 0) FL_TRY(ch.progress(std::chrono::milliseconds{1}));
    }
    if (moved)
      stall.progressed();
    else
      FL_TRY(stall.check(ch, "bandwidth test"));
  }

  RunOutcome out;
  out.server = rx.report();
  ControlMsg result;
  result.type = MsgType::kResult;
  result.report = out.server;
  FL_TRY(sendControl(ch, kTagControlDown, result, kControlTimeout));
  if (bidir) {
    Result<ControlMsg> theirs = up.wait(kControlTimeout);
    if (!theirs) return theirs.status();
    if (theirs->type != MsgType::kResult) return unexpectedMessage(*theirs, "RESULT");
    out.client = theirs->report;
    FL_TRY(checkExcess(out.client, spec));
  }
  FL_TRY(rx.drainFillers(kControlTimeout));
  if (bidir) FL_TRY(sendFillers(ch, kTagDataBack, out.client.excess, kControlTimeout));
  return out;
}

}  // namespace farlink::perf
