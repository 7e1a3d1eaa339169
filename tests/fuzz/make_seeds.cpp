// Writes the seed corpora in tests/fuzz/corpus/ from the real encoders, so
// the seeds follow the wire format when it changes. Run by hand after a
// format change: `ninja -C build tests/fuzz/make-seeds && build/tests/fuzz/make-seeds tests/fuzz/corpus`.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "coll/wire_header.h"
#include "core/byte_order.h"
#include "core/wire.h"
#include "farlink/memory.h"
#include "perf/control.h"
#include "ping/rping_wire.h"
#include "plugin/nccl/clear_to_send.h"
#include "plugin/nccl/handle.h"

namespace fs = std::filesystem;
using namespace farlink;

namespace {

void put(const fs::path& dir, const std::string& name, const void* data, size_t size) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(static_cast<const char*>(data),
                                                    static_cast<std::streamsize>(size));
}

std::vector<uint8_t> frame(wire::FrameType type, uint32_t len, uint64_t seq, uint64_t tag,
                           uint64_t offset, uint64_t total) {
  std::vector<uint8_t> out(wire::kFrameHeaderSize);
  wire::encodeFrame({type, len, seq, tag, offset, total}, out.data());
  return out;
}

void frames(const fs::path& dir) {
  auto a = frame(wire::FrameType::kData, 4096, 0, 7, 0, 10000);
  a.push_back(0);
  put(dir, "data", a.data(), a.size());
  auto b = frame(wire::FrameType::kClose, 0, 3, 0, 0, 0);
  b.push_back(1);
  put(dir, "close", b.data(), b.size());
  auto c = frame(wire::FrameType::kReadReq, 0, 9, 12345, 64, 4096);
  c.push_back(2);
  put(dir, "read-req", c.data(), c.size());
  // Session resume: a per-lane ACK and the RESUME that opens a reconnected lane.
  for (auto [type, name] : {std::pair{wire::FrameType::kAck, "ack"},
                            std::pair{wire::FrameType::kResume, "resume"}}) {
    auto f = frame(type, 0, 123456, 0, 0, 0);
    f.push_back(static_cast<uint8_t>(type));
    put(dir, name, f.data(), f.size());
  }
  auto k = frame(wire::FrameType::kKeepalive, 0, 0, 0, 0, 0);
  k.push_back(3);
  put(dir, "keepalive", k.data(), k.size());
}

void handshakes(const fs::path& dir) {
  std::vector<uint8_t> hello(1 + wire::kHelloSize, 0);
  wire::Hello h;
  h.lane_count = 4;
  h.lane_index = 2;
  h.max_chunk = 1 << 20;
  h.capabilities = wire::kCapPsk;
  wire::encodeHello(h, hello.data() + 1);
  put(dir, "hello", hello.data(), hello.size());
  h.capabilities = wire::kCapPsk | wire::kCapResume | wire::kCapResuming;  // a reconnecting lane
  h.session.fill(0x5a);
  std::vector<uint8_t> resuming(1 + wire::kHelloSize, 0);
  wire::encodeHello(h, resuming.data() + 1);
  put(dir, "hello-resuming", resuming.data(), resuming.size());
  wire::Welcome w;
  w.max_chunk = 1 << 20;
  w.status = wire::HandshakeStatus::kBusy;
  w.reason = "listener busy";
  std::string welcome = "\x01" + wire::encodeWelcome(w);
  put(dir, "welcome", welcome.data(), welcome.size());
  std::string verdict = "\x02" + wire::encodeVerdict({wire::HandshakeStatus::kUnauthenticated, "no"});
  put(dir, "verdict", verdict.data(), verdict.size());
  RemoteKey k{0x1122334455667788, 1 << 20, kRemoteRead | kRemoteWrite};
  auto key = k.serialize();
  // Built in one go: GCC 12's -Warray-bounds misreads an insert after {3}.
  std::vector<uint8_t> rk(1 + key.size(), 3);
  std::copy(key.begin(), key.end(), rk.begin() + 1);
  put(dir, "remote-key", rk.data(), rk.size());
}

// Script for fuzz_receive: op 0 = post(tag, u16 capacity), 1 = frame + payload.
void receives(const fs::path& dir) {
  std::vector<uint8_t> s;
  auto post = [&](uint8_t tag, uint16_t cap) {
    s.insert(s.end(), {0, tag, static_cast<uint8_t>(cap), static_cast<uint8_t>(cap >> 8)});
  };
  auto data = [&](uint64_t seq, uint64_t tag, uint64_t off, uint32_t len, uint64_t total) {
    s.push_back(1);
    auto f = frame(wire::FrameType::kData, len, seq, tag, off, total);
    s.insert(s.end(), f.begin(), f.end());
    s.insert(s.end(), len, static_cast<uint8_t>('a' + seq));
  };
  post(1, 6000);
  data(0, 1, 4096, 904, 5000);  // second chunk first
  data(0, 1, 0, 4096, 5000);
  data(1, 2, 0, 100, 100);  // unexpected, then claimed
  post(255, 200);
  data(2, 1, 0, 0, 0);  // empty message
  post(1, 10);
  s.insert(s.end(), {2, 3, 0});  // withdraw, peer gone
  put(dir, "script", s.data(), s.size());
}

void controls(const fs::path& dir) {
  perf::ControlMsg run;
  run.spec.flags = perf::kFlagVerify;
  run.spec.iters = 1000;
  auto a = perf::encodeControl(run);
  put(dir, "run", a.data(), a.size());
  perf::ControlMsg result;
  result.type = perf::MsgType::kResult;
  result.report.messages = 1000;
  result.report.bytes = 65536000;
  result.text = "ok";
  auto b = perf::encodeControl(result);
  put(dir, "result", b.data(), b.size());
}

void uris(const fs::path& dir) {
  for (std::string u : {"tcp://127.0.0.1:18515", "verbs://[fe80::1%eth0]:7174", "auto://host.example:1",
                        "10.0.0.2:65535"})
    put(dir, std::to_string(std::hash<std::string>{}(u)), u.data(), u.size());
}

void rpings(const fs::path& dir) {
  ping::AdvertBytes a = ping::encodeAdvert({0x7f0012345000, 0x1234, 64});
  put(dir, "advert", a.data(), a.size());
  const char echo[] = "\x40\x00\x00\x00rdma-ping-0: ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqr";
  put(dir, "echo", echo, sizeof echo);
}

// fuzz_coll_header: 24 bytes of what this rank expects (op, dtype, reduce,
// pad, count, chunk, seq), then the peer's 32-byte header.
void collHeaders(const fs::path& dir) {
  auto seed = [&](const std::string& name, const coll::WireHeader& expect,
                  const coll::WireHeader& sent) {
    std::vector<uint8_t> s(24 + coll::kWireHeaderSize, 0);
    s[0] = uint8_t(uint8_t(expect.op) - 1);
    s[1] = uint8_t(expect.dtype);
    s[2] = uint8_t(expect.reduce);
    put64(s.data() + 4, expect.count);
    put64(s.data() + 12, expect.chunk);
    put32(s.data() + 20, expect.seq);
    coll::encodeWireHeader(sent, s.data() + 24);
    put(dir, name, s.data(), s.size());
  };
  coll::WireHeader a{coll::WireOp::kAllreduce, DataType::kFloat32, ReduceOp::kSum, 1 << 20, 3, 17};
  seed("match", a, a);
  coll::WireHeader b = a;
  b.dtype = DataType::kBFloat16;
  b.seq = 18;
  seed("other-dtype", a, b);
  coll::WireHeader c{coll::WireOp::kBroadcast, DataType::kInt64, ReduceOp::kMax, 7, 0, 1};
  seed("broadcast", c, c);
}

void ncclHandles(const fs::path& dir) {
  uint8_t out[nccl::kHandleBytes];
  nccl::ConnectHandle v4;
  v4.addr = {10, 0, 0, 2};
  v4.port = 7000;
  v4.nonce = 0x1122334455667788;
  nccl::encodeHandle(v4, out);
  put(dir, "tcp-v4", out, sizeof out);
  nccl::writeStage(out, 2);
  put(dir, "tcp-v4-stage", out, sizeof out);
  nccl::ConnectHandle v6;
  v6.scheme = nccl::Scheme::kVerbs;
  v6.family = 6;
  v6.addr = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  v6.port = 18515;
  v6.nonce = 42;
  nccl::encodeHandle(v6, out);
  put(dir, "verbs-v6", out, nccl::kEncodedSize);  // cut short: the rest reads as zeros
}

void ncclAnnouncements(const fs::path& dir) {
  std::array<uint8_t, nccl::kCtsMaxBytes> out{};
  const int one[] = {1};
  put(dir, "one-tag", out.data(), nccl::encodeCts(one, out));
  const int group[] = {0, -1, 7, 7, 0x7fffffff, 3, 2, 1};
  put(dir, "grouped-8", out.data(), nccl::encodeCts(group, out));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make-seeds CORPUS_DIR\n");
    return 2;
  }
  fs::path root = argv[1];
  frames(root / "frame");
  handshakes(root / "handshake");
  receives(root / "receive");
  controls(root / "control");
  uris(root / "uri");
  rpings(root / "rping");
  collHeaders(root / "coll_header");
  ncclHandles(root / "nccl_handle");
  ncclAnnouncements(root / "nccl_cts");
  return 0;
}
