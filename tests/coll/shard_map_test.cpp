// The shard map for equal and unequal sites: segments tile the buffer, each
// lies in exactly one block of every site, and every rank carries a share.
#include <gtest/gtest.h>

#include "coll/shard_map.h"
#include "coll/wire_header.h"

using namespace farlink::coll;

namespace {

void checkMap(size_t count, const std::vector<int>& sites) {
  auto segs = shardMap(count, sites);
  size_t off = 0;
  std::vector<std::vector<size_t>> carried(sites.size());
  for (size_t s = 0; s < sites.size(); ++s) carried[s].assign(size_t(sites[s]), 0);
  for (const Segment& sg : segs) {
    ASSERT_EQ(sg.offset, off);
    ASSERT_GT(sg.count, 0u);
    ASSERT_EQ(sg.owner.size(), sites.size());
    for (size_t s = 0; s < sites.size(); ++s) {
      auto blocks = blockPartition(count, sites[s]);
      const Block& b = blocks[size_t(sg.owner[s])];
      ASSERT_LE(b.offset, sg.offset);
      ASSERT_LE(sg.offset + sg.count, b.offset + b.count);
      carried[s][size_t(sg.owner[s])] += sg.count;
    }
    off += sg.count;
  }
  ASSERT_EQ(off, count);
  // Each rank carries exactly its block.
  for (size_t s = 0; s < sites.size(); ++s) {
    auto blocks = blockPartition(count, sites[s]);
    for (size_t j = 0; j < blocks.size(); ++j) EXPECT_EQ(carried[s][j], blocks[j].count);
  }
}

TEST(BlockPartition, SizesDifferByAtMostOne) {
  auto b = blockPartition(10, 3);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].count, 4u);
  EXPECT_EQ(b[1].count, 3u);
  EXPECT_EQ(b[2].offset, 7u);
  EXPECT_EQ(blockPartition(2, 4)[3].count, 0u);
}

TEST(PiecePartition, PiecesOfAboutPieceBytesCoverTheBuffer) {
  // 64 MiB of fp32 in 4 MiB pieces: 16 equal pieces, back to back.
  auto p = piecePartition(size_t{16} << 20, 4, size_t{4} << 20, 256);
  ASSERT_EQ(p.size(), 16u);
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(p[i].offset, i << 20);
    EXPECT_EQ(p[i].count, size_t{1} << 20);
  }
  // A remainder rounds the count up; sizes still differ by at most one.
  auto q = piecePartition(1000003, 4, 1 << 20, 256);
  ASSERT_EQ(q.size(), 4u);  // 4000012 B / 1 MiB = 3.8
  EXPECT_EQ(q[3].offset + q[3].count, 1000003u);
  EXPECT_LE(q[0].count - q[3].count, 1u);
  // Capped, one piece for 0 bytes and for piece_bytes 0, never an empty list.
  EXPECT_EQ(piecePartition(size_t{1} << 30, 1, 4096, 256).size(), 256u);
  EXPECT_EQ(piecePartition(100, 4, 0, 256).size(), 1u);
  ASSERT_EQ(piecePartition(0, 4, 4096, 256).size(), 1u);
  EXPECT_EQ(piecePartition(0, 4, 4096, 256)[0].count, 0u);
  // Fewer elements than pieces wanted: one element each, no empty piece.
  auto r = piecePartition(3, 8, 1, 256);
  ASSERT_EQ(r.size(), 3u);
  for (size_t i = 0; i < r.size(); ++i) EXPECT_EQ(r[i].offset + r[i].count, i + 1);
}

TEST(ShardMap, EqualSitesGiveShardIToRankI) {
  auto segs = shardMap(12, {2, 2});
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[1].offset, 6u);
  EXPECT_EQ(segs[1].owner, (std::vector<int>{1, 1}));
}

TEST(ShardMap, TwoAndThree) {
  // Cuts at 6 (site of 2) and 4, 8 (site of 3): [0,4) [4,6) [6,8) [8,12).
  auto segs = shardMap(12, {2, 3});
  ASSERT_EQ(segs.size(), 4u);
  EXPECT_EQ(segs[0].owner, (std::vector<int>{0, 0}));
  EXPECT_EQ(segs[1].owner, (std::vector<int>{0, 1}));
  EXPECT_EQ(segs[2].owner, (std::vector<int>{1, 1}));
  EXPECT_EQ(segs[3].owner, (std::vector<int>{1, 2}));
}

TEST(ShardMap, ManyShapes) {
  for (size_t count : {0u, 1u, 2u, 5u, 7u, 100u, 1000003u})
    for (auto sites : std::vector<std::vector<int>>{{1}, {2, 3}, {3, 2}, {1, 4}, {4, 4, 1},
                                                    {2, 3, 5}, {7, 1}})
      checkMap(count, sites);
}

TEST(WireHeader, RoundTripAndMismatchNamesPeer) {
  WireHeader h{WireOp::kAllreduce, farlink::DataType::kBFloat16, farlink::ReduceOp::kMax, 77, 3, 9};
  uint8_t buf[kWireHeaderSize];
  encodeWireHeader(h, buf);
  EXPECT_TRUE(checkWireHeader(buf, sizeof buf, h, "rank 4").isOk());
  WireHeader other = h;
  other.count = 78;
  auto s = checkWireHeader(buf, sizeof buf, other, "rank 4 (site b)");
  EXPECT_EQ(s.code(), farlink::StatusCode::kProtocolError);
  EXPECT_NE(s.message().find("rank 4 (site b)"), std::string::npos);
  EXPECT_NE(s.message().find("count 77"), std::string::npos);
  buf[4] = 9;  // version
  s = checkWireHeader(buf, sizeof buf, h, "rank 4");
  EXPECT_NE(s.message().find("wire version 9"), std::string::npos);
  buf[0] = 0;
  EXPECT_NE(checkWireHeader(buf, sizeof buf, h, "rank 4").message().find("magic"),
            std::string::npos);
}

}  // namespace
