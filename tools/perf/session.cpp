#include "perf/session.h"

#include <optional>

#include "common/cli.h"
#include "common/report.h"
#include "perf/runs.h"

namespace farlink::perf {
namespace {

tools::BwRow bwRow(const TestSpec& spec, const RunOutcome& o, const ChannelStats& st) {
  tools::BwRow row;
  row.transport = st.transport;
  row.lanes = st.lanes;
  row.bytes = spec.size;
  row.bidir = spec.bidir();
  // With --bidir both directions add up, as perftest's bidirectional tests report.
  auto add = [&](const RunReport& r) {
    row.iterations += r.messages;
    row.peak_gbps += static_cast<double>(r.peak_bps) / 1e9;
    if (r.elapsed_ns == 0) return;
    const auto ns = static_cast<double>(r.elapsed_ns);
    row.avg_gbps += static_cast<double>(r.bytes) * 8 / ns;
    row.msg_rate_mpps += static_cast<double>(r.messages) * 1e3 / ns;
  };
  add(o.server);
  if (spec.bidir()) add(o.client);
  return row;
}

tools::LatRow latRow(const TestSpec& spec, const RunOutcome& o, const ChannelStats& st) {
  tools::LatRow row;
  row.transport = st.transport;
  row.lanes = st.lanes;
  row.bytes = spec.size;
  row.iterations = o.client.messages;
  const double* v = o.client.latency_us;
  row.stats = {v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
  return row;
}

// Prints the column header when the mode changes, then the row. JSON rows
// also carry the path as the channel sees it now, after the run.
void printRow(const Output& out, const TestSpec& spec, const RunOutcome& o,
              const ChannelStats& st, std::optional<Mode>* shown) {
  if (out.quiet) return;
  const bool bw = spec.mode == Mode::kBw;
  if (out.json) {
    tools::PathSummary path = tools::summarizePath(st.lane);
    path.flow = st.flow;
    path.resumes = st.resumes;
    std::string line;
    if (bw) {
      tools::BwRow row = bwRow(spec, o, st);
      row.path = path;
      line = tools::toJson(row);
    } else {
      tools::LatRow row = latRow(spec, o, st);
      row.path = path;
      line = tools::toJson(row);
    }
    std::fprintf(out.table, "%s\n", line.c_str());
  } else {
    if (*shown != spec.mode) {
      if (shown->has_value()) tools::printRule(out.table);
      bw ? tools::printBwHeader(out.table) : tools::printLatHeader(out.table);
      *shown = spec.mode;
    }
    bw ? tools::printBwRow(out.table, bwRow(spec, o, st))
       : tools::printLatRow(out.table, latRow(spec, o, st));
  }
  std::fflush(out.table);
}

void printBanner(const Output& out, const Banner& b, const TestSpec& spec, const ChannelStats& st) {
  if (out.quiet || out.json) return;
  FILE* f = out.table;
  const bool bw = spec.mode == Mode::kBw;
  tools::printRule(f);
  std::fprintf(f, "                    farlink perf: %s\n",
               bw ? "Bandwidth Test" : "Latency Test (one-way = RTT/2)");
  std::fprintf(f, " Server          : %s\n", b.server.c_str());
  std::fprintf(f, " Transport       : %s\n", st.transport.c_str());
  if (!st.transport_detail.empty())
    std::fprintf(f, " Transport uses  : %s\n", st.transport_detail.c_str());
  if (!st.transport_reason.empty())
    std::fprintf(f, " Chosen because  : %s\n", st.transport_reason.c_str());
  if (st.encrypted)
    std::fprintf(f, " Encryption      : TLS 1.3, records sealed by the %s%s\n",
                 st.tls_offload == "kernel" ? "kernel (kTLS)"
                 : st.tls_offload == "user" ? "OpenSSL in user space"
                                             : "kernel on some lanes, OpenSSL on others",
                 st.tls_offload_note.empty() ? "" : (" (kTLS: " + st.tls_offload_note + ")").c_str());
  std::fprintf(f, " Lanes           : %d\n", st.lanes);
  std::fprintf(f, " Chunk size      : %s\n", tools::formatSize(b.chunk_size).c_str());
  if (bw) {
    std::fprintf(f, " TX depth        : %u\n", spec.depth);
    std::fprintf(f, " Direction       : %s\n",
                 spec.bidir() ? "bidirectional (rows add both directions)" : "client to server");
  }
  std::fprintf(f, " Length          : %s\n", b.length.c_str());
  std::fprintf(f, " Verify data     : %s\n", spec.verify() ? "yes" : "no");
  tools::printRule(f);
}

Status withContext(const Status& s, const std::string& context) {
  return Status(s.code(), context + ": " + s.message(), s.sysErrno());
}

}  // namespace

ClientResult runClientSession(Channel& ch, const std::vector<TestSpec>& specs, const Banner& banner,
                              const Output& out) {
  ClientResult result;
  ControlPoller down(ch, kTagControlDown);
  const ChannelStats st = ch.stats();
  std::optional<Mode> shown;
  printBanner(out, banner, specs.front(), st);
  for (const TestSpec& spec : specs) {
    const std::string context = std::to_string(spec.size) + "-byte messages";
    Result<RunOutcome> o =
        spec.mode == Mode::kBw ? runBwClient(ch, down, spec) : runLatClient(ch, down, spec);
    if (!o) {
      result.status = withContext(o.status(), context);
      break;
    }
    const ChannelStats after = ch.stats();
    printRow(out, spec, *o, after, &shown);
    if (spec.mode == Mode::kBw) result.bw.push_back(bwRow(spec, *o, after));
    else result.lat.push_back(latRow(spec, *o, after));
    result.verify_errors = o->server.verify_errors + o->client.verify_errors;
    if (result.verify_errors) break;
  }
  if (!out.quiet && !out.json && shown) tools::printRule(out.table);
  if (result.status) {
    ControlMsg bye;
    bye.type = MsgType::kBye;
    Status s = sendControl(ch, kTagControlUp, bye, kControlTimeout);
    if (s) s = ch.close();
    if (!s) result.status = withContext(s, "closing");
  }
  return result;
}

Status serveClient(Channel& ch, const Output& out) {
  ControlPoller up(ch, kTagControlUp);
  const ChannelStats st = ch.stats();
  const std::string peer = ch.peer();
  auto info = [&](const std::string& line) {
    if (out.quiet) return;
    std::fprintf(out.info, "farlink perf: %s\n", line.c_str());
    std::fflush(out.info);
  };
  info("client " + peer + " connected (" + st.transport + ", " + std::to_string(st.lanes) +
       (st.lanes == 1 ? " lane)" : " lanes)"));
  std::optional<Mode> shown;
  for (;;) {
    Result<ControlMsg> m = up.wait(kForever);
    if (!m) {
      // Leaving between runs without BYE is rude but not an error.
      if (m.status().code() == StatusCode::kPeerClosed) break;
      return m.status();
    }
    if (m->type == MsgType::kBye) {
      FL_TRY(ch.close());
      break;
    }
    if (m->type != MsgType::kRun) return unexpectedMessage(*m, "RUN or BYE");
    const TestSpec& spec = m->spec;
    if (std::string why = checkSpec(spec); !why.empty()) {
      ControlMsg refuse;
      refuse.type = MsgType::kRefuse;
      refuse.text = why;
      info("refused a test from " + peer + ": " + why);
      FL_TRY(sendControl(ch, kTagControlDown, refuse, kControlTimeout));
      continue;
    }
    Result<RunOutcome> o =
        spec.mode == Mode::kBw ? runBwServer(ch, up, spec) : runLatServer(ch, up, spec);
    if (!o) return withContext(o.status(), std::to_string(spec.size) + "-byte messages");
    if (!out.quiet) printRow(out, spec, *o, ch.stats(), &shown);
  }
  if (!out.quiet && !out.json && shown) tools::printRule(out.table);
  info("client " + peer + " done");
  return Status::ok();
}

}  // namespace farlink::perf
