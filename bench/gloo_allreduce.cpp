// Plain Gloo allreduce (fp32 sum) for bench/compare-coll: no farlink in the
// data path. One process per rank; rendezvous through a FileStore in a
// directory every rank sees (network namespaces share the file system).
// Environment: RANK, WORLD_SIZE, GLOO_STORE (directory), GLOO_HOST (the
// address this rank binds). For each size in bytes: `warmup` untimed runs,
// `iters` timed ones; rank 0 prints "size=<bytes> time_us=<slowest rank's
// mean> wrong=<elements>". Input: rank r holds (r + i) % 4 at element i.
//   gloo_allreduce [--algo hd|ring] [-n ITERS] [-w WARMUP] SIZE...
#include <gloo/allreduce_halving_doubling.h>
#include <gloo/allreduce_ring.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace {

int envInt(const char* name) {
  const char* v = std::getenv(name);
  if (!v) throw std::runtime_error(std::string(name) + " is not set");
  return std::atoi(v);
}

template <typename Algo>
double timeRuns(Algo& algo, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) algo.run();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) algo.run();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
         iters;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string algo_name = "hd";
  int iters = 20, warmup = 5;
  std::vector<long long> sizes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--algo") && i + 1 < argc)
      algo_name = argv[++i];
    else if (!std::strcmp(argv[i], "-n") && i + 1 < argc)
      iters = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "-w") && i + 1 < argc)
      warmup = std::atoi(argv[++i]);
    else
      sizes.push_back(std::atoll(argv[i]));
  }
  if (sizes.empty() || iters < 1 || (algo_name != "hd" && algo_name != "ring")) {
    std::fprintf(stderr, "usage: gloo_allreduce [--algo hd|ring] [-n ITERS] [-w WARMUP] SIZE...\n");
    return 2;
  }
  const int rank = envInt("RANK"), world = envInt("WORLD_SIZE");
  const char* dir = std::getenv("GLOO_STORE");
  const char* host = std::getenv("GLOO_HOST");
  if (!dir || !host) throw std::runtime_error("GLOO_STORE and GLOO_HOST must be set");
  gloo::transport::tcp::attr attr(host);
  auto dev = gloo::transport::tcp::CreateDevice(attr);
  gloo::rendezvous::FileStore store(dir);
  auto ctx = std::make_shared<gloo::rendezvous::Context>(rank, world);
  ctx->setTimeout(std::chrono::seconds(120));
  ctx->connectFullMesh(store, dev);
  for (long long size : sizes) {
    const int count = int(size / 4 > 0 ? size / 4 : 1);
    std::vector<float> buf(static_cast<size_t>(count));
    auto fill = [&] {
      for (int i = 0; i < count; ++i) buf[size_t(i)] = float((rank + i) % 4);
    };
    fill();
    std::vector<float*> ptrs{buf.data()};
    double us;
    // In place: every run reduces the previous result, so refill and run
    // once more for the check.
    if (algo_name == "hd") {
      gloo::AllreduceHalvingDoubling<float> a(ctx, ptrs, count);
      us = timeRuns(a, warmup, iters);
      fill();
      a.run();
    } else {
      gloo::AllreduceRing<float> a(ctx, ptrs, count);
      us = timeRuns(a, warmup, iters);
      fill();
      a.run();
    }
    double wrong = 0;
    for (int i = 0; i < count; ++i) {
      double want = 0;
      for (int r = 0; r < world; ++r) want += (r + i) % 4;
      wrong += buf[size_t(i)] != float(want);
    }
    std::vector<double*> tp{&us}, wp{&wrong};
    gloo::AllreduceRing<double> slowest(ctx, tp, 1, gloo::ReductionFunction<double>::max);
    slowest.run();
    gloo::AllreduceRing<double> total(ctx, wp, 1);
    total.run();
    if (rank == 0) std::printf("size=%lld time_us=%.1f wrong=%.0f\n", count * 4LL, us, wrong);
    std::fflush(stdout);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "gloo_allreduce rank %s: %s\n",
               std::getenv("RANK") ? std::getenv("RANK") : "?", e.what());
  return 1;
}
