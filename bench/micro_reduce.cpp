// Reduction kernels (reduceInto) per dtype and op, in bytes of the inout
// buffer per second. 1 MiB buffers: the size of a pipeline piece's segment,
// in cache on most machines, so the figure is the kernel's, not DRAM's.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "farlink/collective.h"

namespace {

void BM_Reduce(benchmark::State& state) {
  const auto t = farlink::DataType(state.range(0));
  const auto op = farlink::ReduceOp(state.range(1));
  const size_t bytes = size_t{1} << 20, es = farlink::dataTypeSize(t), n = bytes / es;
  // 0x3c bytes are small positive values in every dtype. Sums grow (fp16
  // reaches inf, which is no slow path); max stays put. No prod: its
  // products would sink into denormals, which measure the FPU, not us.
  std::vector<uint8_t> a(bytes, 0x3c), b(bytes, 0x3c);
  for (auto _ : state) {
    farlink::reduceInto(t, op, a.data(), b.data(), n);
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
  state.SetLabel(std::string(farlink::dataTypeName(t)) + " " +
                 std::string(farlink::reduceOpName(op)));
}

void args(benchmark::internal::Benchmark* b) {
  for (int t = 0; t < farlink::kDataTypeCount; ++t)
    for (int op : {int(farlink::ReduceOp::kSum), int(farlink::ReduceOp::kMax)}) b->Args({t, op});
}

BENCHMARK(BM_Reduce)->Apply(args);

}  // namespace

BENCHMARK_MAIN();
