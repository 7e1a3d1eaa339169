#include "perf/control.h"

#include <bit>
#include <cstring>

#include "perf/runs.h"

namespace farlink::perf {
namespace {

constexpr uint8_t kMagic[4] = {'F', 'L', 'P', 'C'};
constexpr uint16_t kVersion = 1;

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>* out) : out_(out) {}
  template <typename T>
  void put(T v) {
    for (size_t i = 0; i < sizeof(T); ++i) out_->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void putDouble(double v) { put(std::bit_cast<uint64_t>(v)); }

 private:
  std::vector<uint8_t>* out_;
};

class Reader {
 public:
  Reader(const uint8_t* p) : p_(p) {}
  template <typename T>
  T get() {
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(T{p_[i]} << (8 * i));
    p_ += sizeof(T);
    return v;
  }
  double getDouble() { return std::bit_cast<double>(get<uint64_t>()); }
  const uint8_t* pos() const { return p_; }

 private:
  const uint8_t* p_;
};

Status protocolError(std::string what) {
  return Status(StatusCode::kProtocolError, "perf control: " + std::move(what));
}

}  // namespace

const char* msgTypeName(MsgType t) {
  switch (t) {
    case MsgType::kRun:
      return "RUN";
    case MsgType::kAccept:
      return "ACCEPT";
    case MsgType::kRefuse:
      return "REFUSE";
    case MsgType::kEnd:
      return "END";
    case MsgType::kResult:
      return "RESULT";
    case MsgType::kBye:
      return "BYE";
  }
  return "unknown";
}

std::vector<uint8_t> encodeControl(const ControlMsg& m) {
  std::vector<uint8_t> out;
  out.reserve(kControlFixedSize + m.text.size());
  Writer w(&out);
  for (uint8_t b : kMagic) w.put(b);
  w.put(kVersion);
  w.put(static_cast<uint16_t>(m.type));
  w.put(static_cast<uint8_t>(m.spec.mode));
  w.put(m.spec.flags);
  w.put(m.spec.depth);
  w.put(uint32_t{0});
  w.put(m.spec.size);
  w.put(m.spec.iters);
  w.put(m.spec.duration_ms);
  w.put(m.count);
  const RunReport& r = m.report;
  for (uint64_t v : {r.messages, r.bytes, r.elapsed_ns, r.peak_bps, r.excess, r.verify_errors})
    w.put(v);
  for (double v : r.latency_us) w.putDouble(v);
  const size_t text_len = std::min(m.text.size(), kMaxText);
  w.put(static_cast<uint16_t>(text_len));
  for (size_t i = 0; i < text_len; ++i) w.put(static_cast<uint8_t>(m.text[i]));
  return out;
}

Status decodeControl(const uint8_t* data, size_t size, ControlMsg* m) {
  if (size < kControlFixedSize)
    return protocolError("too short (" + std::to_string(size) + " bytes)");
  if (std::memcmp(data, kMagic, 4) != 0)
    return protocolError("bad magic (not a farlink perf peer?)");
  Reader r(data + 4);
  const auto version = r.get<uint16_t>();
  if (version != kVersion)
    return protocolError("version " + std::to_string(version) + ", this side speaks " +
                         std::to_string(kVersion));
  const auto type = r.get<uint16_t>();
  if (type < static_cast<uint16_t>(MsgType::kRun) || type > static_cast<uint16_t>(MsgType::kBye))
    return protocolError("unknown type " + std::to_string(type));
  m->type = static_cast<MsgType>(type);
  const auto mode = r.get<uint8_t>();
  if (mode > static_cast<uint8_t>(Mode::kLat))
    return protocolError("unknown mode " + std::to_string(mode));
  m->spec.mode = static_cast<Mode>(mode);
  m->spec.flags = r.get<uint8_t>();
  m->spec.depth = r.get<uint16_t>();
  (void)r.get<uint32_t>();
  m->spec.size = r.get<uint64_t>();
  m->spec.iters = r.get<uint64_t>();
  m->spec.duration_ms = r.get<uint64_t>();
  m->count = r.get<uint64_t>();
  RunReport& rep = m->report;
  for (uint64_t* v :
       {&rep.messages, &rep.bytes, &rep.elapsed_ns, &rep.peak_bps, &rep.excess, &rep.verify_errors})
    *v = r.get<uint64_t>();
  for (double& v : rep.latency_us) v = r.getDouble();
  const auto text_len = r.get<uint16_t>();
  if (text_len > kMaxText || kControlFixedSize + text_len != size)
    return protocolError("text length " + std::to_string(text_len) + " does not match size " +
                         std::to_string(size));
  m->text.assign(reinterpret_cast<const char*>(r.pos()), text_len);
  return Status::ok();
}

std::string checkSpec(const TestSpec& s) {
  if (s.flags & ~kKnownFlags) return "unknown flags " + std::to_string(s.flags);
  if (s.size == 0 || s.size > kMaxMessageSize)
    return "message size " + std::to_string(s.size) + " outside 1.." +
           std::to_string(kMaxMessageSize) + " bytes";
  if (s.depth == 0 || s.depth > kMaxDepth)
    return "depth " + std::to_string(s.depth) + " outside 1.." + std::to_string(kMaxDepth);
  if ((s.iters == 0) == (s.duration_ms == 0))
    return "exactly one of iterations and duration must be set";
  if (s.iters > kMaxIterations)
    return "iterations " + std::to_string(s.iters) + " above " + std::to_string(kMaxIterations);
  if (s.duration_ms > kMaxDurationMs)
    return "duration " + std::to_string(s.duration_ms) + " ms above 24 hours";
  if (s.mode == Mode::kBw && s.iters == 1) return "a bandwidth test needs at least 2 iterations";
  if (s.mode == Mode::kLat && s.bidir()) return "--bidir applies to bandwidth tests only";
  return {};
}

Status unexpectedMessage(const ControlMsg& got, const char* want) {
  return protocolError(std::string("expected ") + want + ", got " + msgTypeName(got.type));
}

Status checkExcess(const RunReport& r, const TestSpec& spec) {
  if (r.excess <= spec.depth) return Status::ok();
  return protocolError("peer asks for " + std::to_string(r.excess) + " fillers, depth is " +
                       std::to_string(spec.depth));
}

Status requestRun(Channel& ch, ControlPoller& down, const TestSpec& spec) {
  ControlMsg run;
  run.type = MsgType::kRun;
  run.spec = spec;
  FL_TRY(sendControl(ch, kTagControlUp, run, kControlTimeout));
  Result<ControlMsg> reply = down.wait(kControlTimeout);
  if (!reply) return reply.status();
  if (reply->type == MsgType::kRefuse)
    return Status(StatusCode::kInvalidArgument,
                  "server " + ch.peer() + " refused the test: " + reply->text);
  if (reply->type != MsgType::kAccept) return unexpectedMessage(*reply, "ACCEPT or REFUSE");
  return Status::ok();
}

Status acceptRun(Channel& ch) {
  ControlMsg accept;
  accept.type = MsgType::kAccept;
  return sendControl(ch, kTagControlDown, accept, kControlTimeout);
}

Status sendControl(Channel& ch, uint64_t tag, const ControlMsg& msg,
                   std::chrono::milliseconds timeout) {
  const std::vector<uint8_t> bytes = encodeControl(msg);
  return ch.send(bytes.data(), bytes.size(), tag, timeout);
}

Result<ControlMsg> recvControl(Channel& ch, uint64_t tag, std::chrono::milliseconds timeout,
                               std::optional<MsgType> expect) {
  ControlPoller poller(ch, tag);
  Result<ControlMsg> msg = poller.wait(timeout);
  if (msg && expect && msg->type != *expect)
    return protocolError(std::string("expected ") + msgTypeName(*expect) + ", got " +
                         msgTypeName(msg->type));
  return msg;
}

ControlPoller::~ControlPoller() {
  if (req_.valid() && !req_.done()) (void)ch_.close(std::chrono::milliseconds{0});
}

Status ControlPoller::post() {
  Result<Request> r = ch_.irecv(buf_.data(), buf_.size(), tag_);
  if (!r) return r.status();
  req_ = std::move(r).value();
  return Status::ok();
}

Result<std::optional<ControlMsg>> ControlPoller::poll() {
  if (!req_.valid()) {
    if (Status s = post(); !s) return s;
  }
  if (!req_.test()) return std::optional<ControlMsg>();
  Request done = std::exchange(req_, Request());
  if (Status s = done.status(); !s) return s;
  ControlMsg msg;
  if (Status s = decodeControl(buf_.data(), done.bytes(), &msg); !s) return s;
  return std::optional<ControlMsg>(std::move(msg));
}

Result<ControlMsg> ControlPoller::wait(std::chrono::milliseconds timeout) {
  if (!req_.valid()) {
    if (Status s = post(); !s) return s;
  }
  if (Status s = req_.wait(timeout); !s) {
    if (s.code() == StatusCode::kTimedOut) {
      return Status(StatusCode::kTimedOut, "no control message from " + ch_.peer() + " within " +
                                               std::to_string(timeout.count() / 1000) + " s");
    }
    req_ = Request();
    return s;
  }
  Result<std::optional<ControlMsg>> m = poll();
  if (!m) return m.status();
  return std::move(**m);
}

}  // namespace farlink::perf
