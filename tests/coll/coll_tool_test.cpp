// farlink coll's pure logic (tools/coll/coll_data.h): the closed-form
// expected values agree with replaying every rank's input through the
// library's own reduction kernel, for every op, dtype and world size up to
// 24; a single wrong element is caught; sizes, shapes and busbw factors
// follow nccl-tests; the --local site split is even.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "coll/coll_data.h"
#include "coll/coll_local.h"

using namespace farlink;
using namespace farlink::colltool;

namespace {

constexpr DataType kTypes[] = {DataType::kInt8,    DataType::kUInt8,   DataType::kInt32,
                               DataType::kInt64,   DataType::kFloat16, DataType::kBFloat16,
                               DataType::kFloat32, DataType::kFloat64};
constexpr ReduceOp kOps[] = {ReduceOp::kSum, ReduceOp::kProd, ReduceOp::kMin, ReduceOp::kMax,
                             ReduceOp::kAvg};

// What a correct allreduce yields: rank 0's input reduced with every other
// rank's in rank order by reduceInto (the kernel every adapter uses).
std::vector<uint8_t> replay(CollOp op, ReduceOp rop, DataType t, int world, size_t n) {
  size_t es = dataTypeSize(t);
  std::vector<uint8_t> acc(n * es), in(n * es);
  fillInput(op, rop, t, 0, acc.data(), n);
  for (int r = 1; r < world; ++r) {
    fillInput(op, rop, t, r, in.data(), n);
    reduceInto(t, rop, acc.data(), in.data(), n);
  }
  if (rop == ReduceOp::kAvg) divideBy(t, acc.data(), n, world);
  return acc;
}

TEST(CollToolData, ClosedFormMatchesReplayedReduction) {
  const size_t n = 61;  // covers every residue of the periods 4, 5 and 11
  for (DataType t : kTypes)
    for (ReduceOp rop : kOps)
      for (int world = 1; world <= 24; ++world) {
        auto got = replay(CollOp::kAllreduce, rop, t, world, n);
        Expectation e{CollOp::kAllreduce, rop, t, world, 0, 0, n};
        std::string why;
        EXPECT_EQ(countWrong(e, got.data(), n, &why), 0u)
            << dataTypeName(t) << " " << reduceOpName(rop) << " world " << world << ": " << why;
      }
}

TEST(CollToolData, Int8SumWrapsLikeTheType) {
  // 200 ranks of values up to 2 overflow int8; the expectation must wrap too.
  auto got = replay(CollOp::kAllreduce, ReduceOp::kSum, DataType::kInt8, 200, 9);
  Expectation e{CollOp::kAllreduce, ReduceOp::kSum, DataType::kInt8, 200, 0, 0, 9};
  EXPECT_EQ(countWrong(e, got.data(), 9, nullptr), 0u);
}

TEST(CollToolData, DataMovementExpectations) {
  const int world = 5;
  const size_t count = 7, es = 4;
  const DataType t = DataType::kInt32;
  // allgather: block r of the result is rank r's send buffer.
  std::vector<uint8_t> gathered(world * count * es);
  for (int r = 0; r < world; ++r)
    fillInput(CollOp::kAllgather, ReduceOp::kSum, t, r, gathered.data() + r * count * es, count);
  Expectation ag{CollOp::kAllgather, ReduceOp::kSum, t, world, 2, 0, count};
  EXPECT_EQ(countWrong(ag, gathered.data(), world * count, nullptr), 0u);
  // alltoall: rank 2's block s is block 2 of rank s's send buffer.
  std::vector<uint8_t> recv(world * count * es), send(world * count * es);
  for (int s = 0; s < world; ++s) {
    fillInput(CollOp::kAlltoall, ReduceOp::kSum, t, s, send.data(), world * count);
    std::memcpy(recv.data() + s * count * es, send.data() + 2 * count * es, count * es);
  }
  Expectation a2a{CollOp::kAlltoall, ReduceOp::kSum, t, world, 2, 0, count};
  EXPECT_EQ(countWrong(a2a, recv.data(), world * count, nullptr), 0u);
  // Blocks swapped between two ranks are caught.
  std::memcpy(recv.data(), send.data(), count * es);
  EXPECT_GT(countWrong(a2a, recv.data(), world * count, nullptr), 0u);
  // broadcast: the root's buffer.
  std::vector<uint8_t> bc(count * es);
  fillInput(CollOp::kBroadcast, ReduceOp::kSum, t, 3, bc.data(), count);
  Expectation b{CollOp::kBroadcast, ReduceOp::kSum, t, world, 1, 3, count};
  EXPECT_EQ(countWrong(b, bc.data(), count, nullptr), 0u);
  Expectation wrong_root{CollOp::kBroadcast, ReduceOp::kSum, t, world, 1, 0, count};
  EXPECT_GT(countWrong(wrong_root, bc.data(), count, nullptr), 0u);
}

TEST(CollToolData, ReduceScatterChecksItsOwnBlock) {
  const int world = 3;
  const size_t count = 5;
  auto full =
      replay(CollOp::kReduceScatter, ReduceOp::kMax, DataType::kFloat32, world, world * count);
  Expectation e{CollOp::kReduceScatter, ReduceOp::kMax, DataType::kFloat32, world, 1, 0, count};
  EXPECT_EQ(countWrong(e, full.data() + count * 4, count, nullptr), 0u);
  EXPECT_GT(countWrong(e, full.data(), count, nullptr), 0u);  // rank 0's block
}

TEST(CollToolData, OneBadElementIsCountedAndNamed) {
  auto got = replay(CollOp::kAllreduce, ReduceOp::kSum, DataType::kFloat32, 4, 100);
  reinterpret_cast<float*>(got.data())[42] += 1.0f;
  Expectation e{CollOp::kAllreduce, ReduceOp::kSum, DataType::kFloat32, 4, 0, 0, 100};
  std::string why;
  EXPECT_EQ(countWrong(e, got.data(), 100, &why), 1u);
  EXPECT_NE(why.find("element 42"), std::string::npos) << why;
  // The poison farlink coll writes before the checked run never passes.
  std::memset(got.data(), 0xa5, got.size());
  EXPECT_EQ(countWrong(e, got.data(), 100, nullptr), 100u);
}

TEST(CollToolData, ReduceIsCheckedOnTheRootOnly) {
  Shape s = shapeFor(CollOp::kReduce, 64, DataType::kFloat32, 4);
  EXPECT_EQ(checkedElems({CollOp::kReduce, ReduceOp::kSum, DataType::kFloat32, 4, 1, 2, 16}, s),
            0u);
  EXPECT_EQ(checkedElems({CollOp::kReduce, ReduceOp::kSum, DataType::kFloat32, 4, 2, 2, 16}, s),
            16u);
}

TEST(CollToolShape, SizesFollowNcclTests) {
  Shape ar = shapeFor(CollOp::kAllreduce, 1 << 20, DataType::kFloat32, 4);
  EXPECT_EQ(ar.count, 262144u);
  EXPECT_EQ(ar.bytes, 1u << 20);
  Shape ag = shapeFor(CollOp::kAllgather, 1 << 20, DataType::kFloat32, 4);
  EXPECT_EQ(ag.count, 65536u);  // per rank
  EXPECT_EQ(ag.send_elems, 65536u);
  EXPECT_EQ(ag.recv_elems, 262144u);
  EXPECT_EQ(ag.bytes, 1u << 20);
  Shape rs = shapeFor(CollOp::kReduceScatter, 1000, DataType::kFloat64, 3);
  EXPECT_EQ(rs.count, 41u);  // 1000 / (8 * 3), rounded down
  EXPECT_EQ(rs.send_elems, 123u);
  EXPECT_EQ(rs.bytes, 984u);
  Shape tiny = shapeFor(CollOp::kAlltoall, 4, DataType::kFloat32, 4);
  EXPECT_EQ(tiny.count, 1u);  // at least one element per block
  EXPECT_EQ(tiny.bytes, 16u);
}

TEST(CollToolShape, BusBandwidthFactors) {
  EXPECT_DOUBLE_EQ(busBwFactor(CollOp::kAllreduce, 4), 1.5);
  EXPECT_DOUBLE_EQ(busBwFactor(CollOp::kAllgather, 4), 0.75);
  EXPECT_DOUBLE_EQ(busBwFactor(CollOp::kReduceScatter, 4), 0.75);
  EXPECT_DOUBLE_EQ(busBwFactor(CollOp::kAlltoall, 4), 0.75);
  EXPECT_DOUBLE_EQ(busBwFactor(CollOp::kBroadcast, 4), 1.0);
  EXPECT_DOUBLE_EQ(busBwFactor(CollOp::kReduce, 4), 1.0);
  EXPECT_DOUBLE_EQ(busBwFactor(CollOp::kAllreduce, 1), 0.0);
}

TEST(CollToolShape, Sweeps) {
  EXPECT_EQ(sweepSizes(1024, 4096, 2), (std::vector<uint64_t>{1024, 2048, 4096}));
  EXPECT_EQ(sweepSizes(4, 1 << 20, 16), (std::vector<uint64_t>{4, 64, 1024, 16384, 262144}));
  EXPECT_EQ(sweepSizes(100, 100, 2), (std::vector<uint64_t>{100}));
  // No overflow near the top of uint64.
  auto big = sweepSizes(uint64_t(1) << 62, ~uint64_t(0), 2);
  EXPECT_EQ(big.size(), 2u);
}

TEST(CollToolParse, OpNames) {
  for (CollOp op : kAllCollOps) EXPECT_EQ(parseCollOp(collOpName(op)), op);
  EXPECT_EQ(parseCollOp("reduce-scatter"), CollOp::kReduceScatter);
  EXPECT_FALSE(parseCollOp("allfoo"));
}

TEST(CollToolLocal, SitesSplitEvenly) {
  std::vector<int> sizes(3, 0);
  for (int r = 0; r < 8; ++r) ++sizes[size_t(localSiteOf(r, 8, 3))];
  EXPECT_EQ(sizes, (std::vector<int>{3, 3, 2}));
  for (int r = 0; r < 4; ++r) EXPECT_EQ(localSiteOf(r, 4, 2), r / 2);
  for (int r = 0; r < 5; ++r) EXPECT_EQ(localSiteOf(r, 5, 1), 0);
  // Ranks are contiguous per site.
  for (int r = 1; r < 8; ++r) EXPECT_GE(localSiteOf(r, 8, 3), localSiteOf(r - 1, 8, 3));
}

}  // namespace
