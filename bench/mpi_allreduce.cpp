// Plain OpenMPI MPI_Allreduce (fp32 sum) for bench/compare-coll: no farlink
// in the data path. Run under mpirun; for each size in bytes on the command
// line: `warmup` untimed calls, a barrier, `iters` timed calls. Rank 0 prints
// "size=<bytes> time_us=<slowest rank's mean> wrong=<elements>" per size.
// Input: rank r holds (r + i) % 4 at element i, so the sum is exact.
//   mpirun -np 4 mpi_allreduce [-n ITERS] [-w WARMUP] SIZE...
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  int iters = 20, warmup = 5;
  std::vector<long long> sizes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "-n") && i + 1 < argc)
      iters = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "-w") && i + 1 < argc)
      warmup = std::atoi(argv[++i]);
    else
      sizes.push_back(std::atoll(argv[i]));
  }
  if (sizes.empty() || iters < 1 || warmup < 0) {
    if (rank == 0) std::fprintf(stderr, "usage: mpi_allreduce [-n ITERS] [-w WARMUP] SIZE...\n");
    MPI_Finalize();
    return 2;
  }
  for (long long size : sizes) {
    const int count = int(size / 4 > 0 ? size / 4 : 1);
    std::vector<float> send(static_cast<size_t>(count)), recv(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) send[size_t(i)] = float((rank + i) % 4);
    for (int i = 0; i < warmup; ++i)
      MPI_Allreduce(send.data(), recv.data(), count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < iters; ++i)
      MPI_Allreduce(send.data(), recv.data(), count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double us = (MPI_Wtime() - t0) * 1e6 / iters, slowest = 0;
    long long wrong = 0, total = 0;
    for (int i = 0; i < count; ++i) {
      double want = 0;
      for (int r = 0; r < world; ++r) want += (r + i) % 4;
      wrong += recv[size_t(i)] != float(want);
    }
    MPI_Reduce(&us, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&wrong, &total, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) std::printf("size=%lld time_us=%.1f wrong=%lld\n", count * 4LL, slowest, total);
    std::fflush(stdout);
  }
  MPI_Finalize();
  return 0;
}
