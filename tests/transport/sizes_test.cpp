// Message sizes from 0 B to 256 MiB, verified byte for byte, and the channel
// statistics that say where the bytes went.
#include <new>

#include "conformance.h"

namespace farlink::test {
namespace {

class ConformanceSizes : public Conformance {};

TEST_P(ConformanceSizes, ZeroBytes) {
  uint8_t out = 0x5a;
  Buffer in(16);
  runConcurrently({
      [&] {
        auto r = client().isend(&out, 0, 3);
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        Status s = r->wait(kShortWait);
        EXPECT_TRUE(s.isOk()) << s.toString();
        EXPECT_EQ(r->bytes(), 0u);
      },
      [&] {
        auto r = server().irecv(in.data(), in.size(), 3);
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        Status s = r->wait(kShortWait);
        ASSERT_TRUE(s.isOk()) << s.toString();
        EXPECT_EQ(r->bytes(), 0u);
        EXPECT_EQ(r->tag(), 3u);
        EXPECT_EQ(in.data()[0], 0xEE) << "a 0-byte message wrote into the buffer";
      },
  });
}

TEST_P(ConformanceSizes, OneByte) {
  runConcurrently(
      {[&] { expectSend(client(), 1, 11, 1); }, [&] { expectRecv(server(), 1, 11, 1, 1); }});
  // And back the other way.
  runConcurrently(
      {[&] { expectSend(server(), 1, 12, 2); }, [&] { expectRecv(client(), 64, 12, 1, 2); }});
}

TEST_P(ConformanceSizes, OddSizes) {
  const size_t sizes[] = {7, 4095, 4097, 65537, 1'000'003, 3 * (1u << 20) + 1};
  runConcurrently({
      [&] {
        for (size_t i = 0; i < std::size(sizes); ++i) expectSend(client(), sizes[i], 20 + i, i);
      },
      [&] {
        // Capacity larger than the message: bytes() reports the message size.
        for (size_t i = 0; i < std::size(sizes); ++i)
          expectRecv(server(), sizes[i] + 13, 20 + i, sizes[i], i);
      },
  });
}

TEST_P(ConformanceSizes, Message256MiB) {
  constexpr size_t kSize = size_t{256} << 20;
  std::unique_ptr<Buffer> out, in;
  try {
    out = std::make_unique<Buffer>(Buffer::patterned(kSize, 0xb16));
    in = std::make_unique<Buffer>(kSize);
  } catch (const std::bad_alloc&) {
    GTEST_SKIP() << "cannot allocate 2 x 256 MiB on this machine";
  }
  runConcurrently({
      [&] {
        auto r = client().isend(out->data(), kSize, 256);
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        Status s = r->wait(transferWait(kSize));
        ASSERT_TRUE(s.isOk()) << s.toString();
        EXPECT_EQ(r->bytes(), kSize);
      },
      [&] {
        auto r = server().irecv(in->data(), kSize, 256);
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        Status s = r->wait(transferWait(kSize));
        ASSERT_TRUE(s.isOk()) << s.toString();
        EXPECT_EQ(r->bytes(), kSize);
      },
  });
  EXPECT_TRUE(matchesPattern(in->data(), kSize, 0xb16));
}

// Chunks of 4 KiB over many lanes arrive in any order; reassembly must put
// every byte of several concurrent messages in its place.
TEST_P(ConformanceSizes, SmallChunksInterleavedMessages) {
  pair_ = {};
  ChannelOptions o = options();
  o.chunk_size = 4096;
  connect(o, o);
  const size_t sizes[] = {1'000'003, 4u << 20, 123'457, 4096 * 17};
  std::vector<Buffer> outs;
  for (size_t i = 0; i < std::size(sizes); ++i) outs.push_back(Buffer::patterned(sizes[i], 90 + i));
  runConcurrently({
      [&] {
        std::vector<Request> reqs;
        for (size_t i = 0; i < std::size(sizes); ++i) {
          auto r = client().isend(outs[i].data(), sizes[i], 40 + i);
          ASSERT_TRUE(r.isOk()) << r.status().toString();
          reqs.push_back(*r);
        }
        for (auto& r : reqs) EXPECT_TRUE(r.wait(kLongWait).isOk());
      },
      [&] {
        // Receive in reverse order of sending: each tag is its own queue.
        for (size_t i = std::size(sizes); i-- > 0;)
          expectRecv(server(), sizes[i], 40 + i, sizes[i], 90 + i);
      },
  });
}

TEST_P(ConformanceSizes, StatsCountMessagesBytesAndLanes) {
  const size_t sizes[] = {0, 100, size_t{64} << 20};
  const uint64_t total = 100 + (uint64_t{64} << 20);
  runConcurrently({
      [&] {
        for (size_t i = 0; i < std::size(sizes); ++i)
          expectSend(client(), sizes[i], 1, i, transferWait(sizes[i]));
      },
      [&] {
        for (size_t i = 0; i < std::size(sizes); ++i)
          expectRecv(server(), sizes[i], 1, sizes[i], i, transferWait(sizes[i]));
      },
  });
  ChannelStats c = client().stats();
  ChannelStats s = server().stats();
  EXPECT_EQ(c.transport, transport());
  EXPECT_EQ(c.lanes, lanes());
  EXPECT_EQ(s.lanes, lanes());
  EXPECT_EQ(c.messages_sent, 3u);
  EXPECT_EQ(c.bytes_sent, total);
  EXPECT_EQ(s.messages_received, 3u);
  EXPECT_EQ(s.bytes_received, total);
  EXPECT_EQ(s.unexpected_bytes, 0u);
  EXPECT_NE(c.peer.find(host()), std::string::npos) << c.peer;
  EXPECT_TRUE(namesClientHost(transport(), s.peer)) << s.peer;
  EXPECT_EQ(c.session_id, s.session_id);
  EXPECT_FALSE(c.session_id.empty());
  ASSERT_EQ(c.lane.size(), static_cast<size_t>(lanes()));
  ASSERT_EQ(s.lane.size(), static_cast<size_t>(lanes()));
  uint64_t lane_sum = 0;
  int lanes_used = 0;
  for (const LaneStats& l : c.lane) {
    EXPECT_TRUE(l.up);
    lane_sum += l.bytes_sent;
    lanes_used += l.bytes_sent > 0;
  }
  EXPECT_GE(lane_sum, total) << "lane counters must include every payload byte";
  // 64 chunks of 1 MiB: a scheduler that stripes must use more than one lane.
  if (lanes() > 1) {
    EXPECT_GE(lanes_used, 2) << "all chunks went over one lane";
  }
}

FARLINK_INSTANTIATE_CONFORMANCE(ConformanceSizes);

}  // namespace
}  // namespace farlink::test
