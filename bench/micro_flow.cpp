// Micro-benchmarks of lib/flow's per-chunk path: what a datapath pays per
// chunk for flow control (assign + maySend + onSend + onAck through
// ChannelFlow), and the pieces alone (pacer check, RTT sample, p99 query).
// Run: build/bench/micro_flow [--benchmark_filter=ChannelFlow]
#include <benchmark/benchmark.h>

#include "flow/channel_flow.h"
#include "flow/pacer.h"
#include "flow/rtt_estimator.h"

namespace farlink::flow {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// One chunk's full life: placed, gated, sent, acked 30 ms later. Time
// advances so the pacer always allows the send and rate samples are real.
void BM_ChannelFlowChunk(benchmark::State& state) {
  FlowConfig cfg;
  cfg.controller = "model";
  cfg.lanes = static_cast<int>(state.range(0));
  auto flow = std::move(*ChannelFlow::create(cfg));
  constexpr uint64_t kChunk = 1 << 20;
  FlowTime t = FlowTime{} + std::chrono::seconds(1);
  ChunkId id = 0;
  std::vector<std::pair<LaneId, ChunkId>> window;  // acked 32 chunks later
  for (auto _ : state) {
    auto lane = flow->assign(id, kChunk, Priority::kBulk, t);
    SendDecision d = flow->maySend(*lane, id, t);
    benchmark::DoNotOptimize(d);
    (void)flow->onSend(*lane, id, t);
    window.emplace_back(*lane, id);
    if (window.size() > 32) {
      auto [l, old] = window.front();
      window.erase(window.begin());
      benchmark::DoNotOptimize(flow->onAck(l, old, t + milliseconds(30)));
    }
    ++id;
    t += microseconds(100);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChannelFlowChunk)->Arg(1)->Arg(8)->Arg(64);

void BM_PacerCheckAndSend(benchmark::State& state) {
  Pacer p(1.25e9);
  FlowTime t{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.delayFor(65536, t));
    p.onSend(65536, t);
    t += microseconds(53);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PacerCheckAndSend);

void BM_RttSample(benchmark::State& state) {
  RttEstimator r;
  FlowTime t{};
  int64_t us = 30000;
  for (auto _ : state) {
    r.addSample(microseconds(us + (t.time_since_epoch().count() & 1023)), t);
    t += microseconds(10);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RttSample);

void BM_RttP99Query(benchmark::State& state) {
  RttEstimator r;
  FlowTime t{};
  for (int i = 0; i < 100000; ++i, t += microseconds(10))
    r.addSample(microseconds(30000 + i % 5000), t);
  for (auto _ : state) benchmark::DoNotOptimize(r.p99(t));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RttP99Query);

}  // namespace
}  // namespace farlink::flow

BENCHMARK_MAIN();
