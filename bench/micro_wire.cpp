// Micro-benchmarks of the per-chunk and per-lane costs in lib/core: frame
// header encode/decode (every chunk), HELLO codec and HMAC proof (every lane
// setup), and the receive matcher's route/chunkDone path (every chunk).
// Run: build/bench/micro_wire [--benchmark_filter=Frame]
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <vector>

#include "core/receive_matcher.h"
#include "core/send_queue.h"
#include "core/wire.h"

namespace farlink::wire {
namespace {

FrameHeader sampleFrame() {
  FrameHeader f;
  f.chunk_len = 1u << 20;
  f.msg_seq = 12345;
  f.tag = 7;
  f.offset = uint64_t{37} << 20;
  f.total_len = uint64_t{256} << 20;
  return f;
}

void BM_FrameEncode(benchmark::State& state) {
  FrameHeader f = sampleFrame();
  uint8_t out[kFrameHeaderSize];
  for (auto _ : state) {
    f.offset += 1;  // keep the compiler from hoisting the work
    encodeFrame(f, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FrameEncode);

void BM_FrameDecode(benchmark::State& state) {
  uint8_t in[kFrameHeaderSize];
  FrameHeader f = sampleFrame();
  encodeFrame(f, in);
  FrameLimits limits;
  for (auto _ : state) {
    benchmark::DoNotOptimize(in);
    Status s = decodeFrame(std::span<const uint8_t, kFrameHeaderSize>(in), limits, &f);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FrameDecode);

void BM_FrameDecodeReject(benchmark::State& state) {
  // The cost of refusing a bad header (builds an error message).
  uint8_t in[kFrameHeaderSize];
  FrameHeader f = sampleFrame();
  f.chunk_len = ~uint32_t{0};
  encodeFrame(f, in);
  FrameLimits limits;
  for (auto _ : state) {
    Status s = decodeFrame(std::span<const uint8_t, kFrameHeaderSize>(in), limits, &f);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_FrameDecodeReject);

Hello sampleHello() {
  Hello h;
  h.capabilities = kCapPsk;
  h.lane_index = 3;
  h.lane_count = 8;
  h.max_chunk = 1u << 20;
  h.session.fill(0x5a);
  h.nonce.fill(0xa5);
  return h;
}

void BM_HelloEncode(benchmark::State& state) {
  Hello h = sampleHello();
  uint8_t out[kHelloSize];
  for (auto _ : state) {
    encodeHello(h, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_HelloEncode);

void BM_HelloDecode(benchmark::State& state) {
  uint8_t in[kHelloSize];
  encodeHello(sampleHello(), in);
  Hello h;
  for (auto _ : state) {
    benchmark::DoNotOptimize(in);
    Status s = decodeHello(std::span<const uint8_t, kHelloSize>(in), &h);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_HelloDecode);

void BM_ComputeProof(benchmark::State& state) {
  SessionId session{};
  Nonce a{}, b{};
  a.fill(1);
  b.fill(2);
  const std::string psk = "a pre-shared key of typical length";
  uint16_t lane = 0;
  for (auto _ : state) {
    Proof p = computeProof(psk, Role::kClient, session, lane++, a, b);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ComputeProof);

void BM_ProofEqual(benchmark::State& state) {
  Proof a{}, b{};
  a.fill(3);
  b.fill(3);
  for (auto _ : state) {
    benchmark::DoNotOptimize(a);
    bool eq = proofEqual(a, b);
    benchmark::DoNotOptimize(eq);
  }
}
BENCHMARK(BM_ProofEqual);

}  // namespace
}  // namespace farlink::wire

namespace farlink {
namespace {

// Reassembly bookkeeping per chunk: one message of range(0) chunks of 4 KiB
// (payload copies excluded: dest-less route, i.e. the matcher's own cost),
// chunks fed in an order that alternates between the two ends, as 2 lanes
// racing would deliver them.
void BM_ReceiveMatcherRoute(benchmark::State& state) {
  const uint32_t chunk = 4096;
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  std::vector<wire::FrameHeader> order;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t idx = (i % 2 == 0) ? i / 2 : n - 1 - i / 2;
    wire::FrameHeader h;
    h.total_len = n * chunk;
    h.offset = idx * chunk;
    h.chunk_len = chunk;
    h.tag = 1;  // matches the posted receive, so no unexpected-buffer copy
    order.push_back(h);
  }
  std::vector<uint8_t> sink(n * chunk);
  uint64_t seq = 0;
  ReceiveMatcher m("bench:0", chunk, size_t{1} << 30);
  for (auto _ : state) {
    auto req = std::make_shared<RequestState>(
        RequestState::Kind::kRecv, std::weak_ptr<ChannelImpl>(), sink.data(), sink.size(), 1);
    m.post(req);
    for (wire::FrameHeader& h : order) {
      h.msg_seq = seq;
      auto r = m.route(h);
      if (r.action != ReceiveMatcher::Action::kDeliver) {
        state.SkipWithError(r.action == ReceiveMatcher::Action::kStall
                                ? "route stalled"
                                : ("route refused a chunk: " + r.error.message()).c_str());
        return;
      }
      m.chunkDone(r.msg, h.chunk_len);
    }
    ++seq;
    if (!req->done()) state.SkipWithError("message did not complete");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_ReceiveMatcherRoute)->Arg(16)->Arg(256);

void BM_SendQueueTakeDone(benchmark::State& state) {
  const uint32_t chunk = 1u << 20;
  std::vector<uint8_t> data(size_t{64} << 20);
  SendQueue q(chunk);
  std::vector<ChunkRef> chunks;
  for (auto _ : state) {
    auto req = std::make_shared<RequestState>(
        RequestState::Kind::kSend, std::weak_ptr<ChannelImpl>(), data.data(), data.size(), 1);
    q.push(req, data.data(), data.size(), 1);
    chunks.clear();
    while (auto c = q.take()) chunks.push_back(*c);
    for (const ChunkRef& c : chunks) q.done(c);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_SendQueueTakeDone);

}  // namespace
}  // namespace farlink

BENCHMARK_MAIN();
