// ReceiveMatcher: reassembly of chunks that arrive in any order over many
// lanes, matching to receives (per-tag order, kAnyTag, too small), the
// unexpected-message budget, and refusal of chunks that break the rules.
#include "core/receive_matcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <random>
#include <vector>

#include "farlink/channel.h"

namespace farlink {
namespace {

using Action = ReceiveMatcher::Action;
constexpr uint32_t kChunk = 4096;
constexpr const char* kPeer = "10.9.8.7:7174";

std::vector<uint8_t> payload(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + seed + (i >> 12));
  return v;
}

std::shared_ptr<RequestState> recvReq(std::vector<uint8_t>& buf, uint64_t tag) {
  return std::make_shared<RequestState>(RequestState::Kind::kRecv, std::weak_ptr<ChannelImpl>(),
                                        buf.data(), buf.size(), tag);
}

// One message cut exactly as a sender with chunk size kChunk cuts it.
std::vector<wire::FrameHeader> chunksOf(uint64_t seq, uint64_t tag, uint64_t total) {
  std::vector<wire::FrameHeader> out;
  uint64_t off = 0;
  do {
    wire::FrameHeader h;
    h.msg_seq = seq;
    h.tag = tag;
    h.total_len = total;
    h.offset = off;
    h.chunk_len = static_cast<uint32_t>(std::min<uint64_t>(kChunk, total - off));
    out.push_back(h);
    off += h.chunk_len;
  } while (off < total);
  return out;
}

// Plays the transport: routes a chunk and, if told to, copies its payload.
Action feed(ReceiveMatcher& m, const wire::FrameHeader& h, const std::vector<uint8_t>& src,
            Status* error = nullptr) {
  ReceiveMatcher::Route r = m.route(h);
  if (r.action == Action::kDeliver) {
    if (r.dest && h.chunk_len) std::memcpy(r.dest, src.data() + h.offset, h.chunk_len);
    m.chunkDone(r.msg, h.chunk_len);
  }
  if (error) *error = r.error;
  return r.action;
}

TEST(ReceiveMatcher, PostedReceiveChunksInReverseOrder) {
  ReceiveMatcher m(kPeer, kChunk, 1 << 20);
  auto src = payload(10 * kChunk + 123, 1);
  std::vector<uint8_t> dst(src.size() + 50, 0xEE);
  auto req = recvReq(dst, 5);
  m.post(req);
  auto chunks = chunksOf(0, 5, src.size());
  // The first chunk to arrive announces the message, whatever its offset.
  std::reverse(chunks.begin(), chunks.end());
  for (size_t i = 0; i < chunks.size(); ++i) {
    ASSERT_EQ(feed(m, chunks[i], src), Action::kDeliver) << i;
    EXPECT_EQ(req->done(), i + 1 == chunks.size()) << "completed early at chunk " << i;
  }
  ASSERT_TRUE(req->done());
  EXPECT_TRUE(req->status().isOk()) << req->status().toString();
  EXPECT_EQ(req->bytes(), src.size());
  EXPECT_EQ(req->matchedTag(), 5u);
  EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin()));
  EXPECT_EQ(dst[src.size()], 0xEE) << "wrote past the message";
  EXPECT_EQ(m.messagesReceived(), 1u);
  EXPECT_EQ(m.bytesReceived(), src.size());
}

TEST(ReceiveMatcher, UnexpectedThenPosted) {
  ReceiveMatcher m(kPeer, kChunk, 1 << 20);
  auto src = payload(3 * kChunk, 2);
  for (const auto& h : chunksOf(0, 9, src.size())) ASSERT_EQ(feed(m, h, src), Action::kDeliver);
  EXPECT_EQ(m.unexpectedBytes(), src.size());
  std::vector<uint8_t> dst(src.size());
  auto req = recvReq(dst, 9);
  m.post(req);
  ASSERT_TRUE(req->done());
  EXPECT_TRUE(req->status().isOk());
  EXPECT_EQ(dst, src);
  EXPECT_EQ(m.unexpectedBytes(), 0u);
}

TEST(ReceiveMatcher, PostedWhilePartlyArrived) {
  ReceiveMatcher m(kPeer, kChunk, 1 << 20);
  auto src = payload(5 * kChunk + 1, 3);
  auto chunks = chunksOf(0, 1, src.size());
  for (size_t i = 0; i < 3; ++i) ASSERT_EQ(feed(m, chunks[i], src), Action::kDeliver);
  std::vector<uint8_t> dst(src.size());
  auto req = recvReq(dst, kAnyTag);
  m.post(req);
  EXPECT_FALSE(req->done());
  for (size_t i = 3; i < chunks.size(); ++i) ASSERT_EQ(feed(m, chunks[i], src), Action::kDeliver);
  ASSERT_TRUE(req->done());
  EXPECT_EQ(req->matchedTag(), 1u);
  EXPECT_EQ(dst, src);
  EXPECT_EQ(m.unexpectedBytes(), 0u);
}

TEST(ReceiveMatcher, ZeroByteMessage) {
  ReceiveMatcher m(kPeer, kChunk, 1 << 20);
  std::vector<uint8_t> dst(8, 0xEE), none;
  auto req = recvReq(dst, 2);
  m.post(req);
  ASSERT_EQ(feed(m, chunksOf(0, 2, 0)[0], none), Action::kDeliver);
  ASSERT_TRUE(req->done());
  EXPECT_TRUE(req->status().isOk());
  EXPECT_EQ(req->bytes(), 0u);
  EXPECT_EQ(dst[0], 0xEE);
}

// Many messages striped over several lanes; each lane delivers its chunks in
// order but lanes interleave at random, so chunks of later messages can come
// before the first chunk of earlier ones (the matcher stalls such a lane).
TEST(ReceiveMatcher, RandomInterleavingAcrossLanesReassemblesEverything) {
  for (uint64_t seed : {1u, 2u, 3u, 42u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    ReceiveMatcher m(kPeer, kChunk, 64 << 20);
    constexpr int kLanes = 8, kMsgs = 40;
    std::vector<std::vector<uint8_t>> src, dst;
    std::vector<std::shared_ptr<RequestState>> reqs;
    std::deque<std::pair<wire::FrameHeader, int>> lanes[kLanes];
    int next_lane = 0;
    for (int i = 0; i < kMsgs; ++i) {
      size_t size = rng() % (12 * kChunk) + (i % 5 == 0 ? 0 : 1);
      if (i % 7 == 3) size = 0;
      src.push_back(payload(size, static_cast<uint8_t>(i)));
      dst.emplace_back(size + 1, 0xEE);
      uint64_t tag = i % 3;
      // Half the receives are posted up front, the rest after everything.
      for (const auto& h : chunksOf(i, tag, size)) lanes[next_lane++ % kLanes].push_back({h, i});
    }
    for (int i = 0; i < kMsgs / 2; ++i) {
      reqs.push_back(recvReq(dst[i], i % 3));
      m.post(reqs.back());
    }
    size_t left = 0;
    for (auto& l : lanes) left += l.size();
    int idle_rounds = 0;
    while (left > 0) {
      int lane = static_cast<int>(rng() % kLanes);
      if (lanes[lane].empty()) continue;
      auto [h, i] = lanes[lane].front();
      Action a = feed(m, h, src[i]);
      ASSERT_NE(a, Action::kError);
      if (a == Action::kStall) {
        ASSERT_LT(++idle_rounds, 100000) << "stalled forever";
        continue;
      }
      idle_rounds = 0;
      lanes[lane].pop_front();
      --left;
    }
    for (int i = kMsgs / 2; i < kMsgs; ++i) {
      reqs.push_back(recvReq(dst[i], i % 3));
      m.post(reqs.back());
    }
    // Per-tag order: receive k of tag t gets the k-th message of tag t.
    // Receives were posted in message order, so request i gets message i.
    for (int i = 0; i < kMsgs; ++i) {
      ASSERT_TRUE(reqs[i]->done()) << "message " << i;
      ASSERT_TRUE(reqs[i]->status().isOk()) << i << ": " << reqs[i]->status().toString();
      ASSERT_EQ(reqs[i]->bytes(), src[i].size()) << i;
      EXPECT_TRUE(std::equal(src[i].begin(), src[i].end(), dst[i].begin())) << "message " << i;
      EXPECT_EQ(dst[i][src[i].size()], 0xEE) << i;
    }
    EXPECT_EQ(m.unexpectedBytes(), 0u);
    EXPECT_EQ(m.messagesReceived(), static_cast<uint64_t>(kMsgs));
  }
}

TEST(ReceiveMatcher, TagsMatchInPerTagOrder) {
  ReceiveMatcher m(kPeer, kChunk, 1 << 20);
  // Sent: A0 B0 A1. Posted: B, A, A.
  std::vector<std::vector<uint8_t>> src = {payload(10, 1), payload(20, 2), payload(30, 3)};
  const uint64_t tags[] = {7, 8, 7};
  std::vector<uint8_t> b(64), a0(64), a1(64);
  auto rb = recvReq(b, 8), ra0 = recvReq(a0, 7), ra1 = recvReq(a1, 7);
  m.post(rb);
  m.post(ra0);
  m.post(ra1);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(feed(m, chunksOf(i, tags[i], src[i].size())[0], src[i]), Action::kDeliver);
  EXPECT_EQ(ra0->bytes(), 10u);
  EXPECT_EQ(rb->bytes(), 20u);
  EXPECT_EQ(ra1->bytes(), 30u);
  EXPECT_TRUE(std::equal(src[2].begin(), src[2].end(), a1.begin()));
}

TEST(ReceiveMatcher, TooSmallReceiveFailsAndMessageIsDropped) {
  ReceiveMatcher m(kPeer, kChunk, 1 << 20);
  auto big = payload(3 * kChunk, 4), small = payload(100, 5);
  std::vector<uint8_t> d1(kChunk), d2(kChunk);
  auto r1 = recvReq(d1, 1), r2 = recvReq(d2, 1);
  m.post(r1);
  m.post(r2);
  for (const auto& h : chunksOf(0, 1, big.size())) ASSERT_EQ(feed(m, h, big), Action::kDeliver);
  ASSERT_TRUE(r1->done());
  EXPECT_EQ(r1->status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r1->status().message().find(kPeer), std::string::npos) << r1->status().message();
  EXPECT_FALSE(r2->done()) << "the dropped message must not also satisfy the next receive";
  ASSERT_EQ(feed(m, chunksOf(1, 1, small.size())[0], small), Action::kDeliver);
  ASSERT_TRUE(r2->done());
  EXPECT_TRUE(r2->status().isOk());
  EXPECT_TRUE(std::equal(small.begin(), small.end(), d2.begin()));
}

TEST(ReceiveMatcher, UnexpectedBudgetStallsUntilAReceiveIsPosted) {
  ReceiveMatcher m(kPeer, kChunk, 2 * kChunk);
  auto src = payload(4 * kChunk, 6);
  auto chunks = chunksOf(0, 3, src.size());
  EXPECT_EQ(feed(m, chunks[0], src), Action::kStall) << "buffered beyond the budget";
  EXPECT_EQ(m.unexpectedBytes(), 0u);
  std::vector<uint8_t> dst(src.size());
  auto req = recvReq(dst, 3);
  m.post(req);
  for (const auto& h : chunks) ASSERT_EQ(feed(m, h, src), Action::kDeliver);
  ASSERT_TRUE(req->done());
  EXPECT_EQ(dst, src);
}

TEST(ReceiveMatcher, PeerGoneFailsPendingButDeliversWhatArrived) {
  ReceiveMatcher m(kPeer, kChunk, 1 << 20);
  auto src = payload(50, 7);
  ASSERT_EQ(feed(m, chunksOf(0, 1, src.size())[0], src), Action::kDeliver);  // unexpected
  std::vector<uint8_t> d1(64), d2(64), d3(64);
  auto pending = recvReq(d1, 2);
  m.post(pending);
  m.setPeerGone(Status(StatusCode::kPeerClosed, "peer closed"));
  ASSERT_TRUE(pending->done());
  EXPECT_EQ(pending->status().code(), StatusCode::kPeerClosed);
  auto arrived = recvReq(d2, 1);
  m.post(arrived);
  ASSERT_TRUE(arrived->done());
  EXPECT_TRUE(arrived->status().isOk()) << "data sent before the close was lost";
  auto later = recvReq(d3, kAnyTag);
  m.post(later);
  ASSERT_TRUE(later->done());
  EXPECT_EQ(later->status().code(), StatusCode::kPeerClosed);
}

class ReceiveMatcherRejects : public ::testing::Test {
 protected:
  void expectError(const wire::FrameHeader& h, const char* what) {
    Status err;
    EXPECT_EQ(feed(m_, h, src_, &err), Action::kError) << what;
    EXPECT_EQ(err.code(), StatusCode::kProtocolError) << what;
    EXPECT_NE(err.message().find(kPeer), std::string::npos) << err.message();
  }
  ReceiveMatcher m_{kPeer, kChunk, 1 << 20};
  std::vector<uint8_t> src_ = payload(64 * kChunk, 8);
};

TEST_F(ReceiveMatcherRejects, DuplicateChunk) {
  auto c = chunksOf(0, 1, 2 * kChunk);
  ASSERT_EQ(feed(m_, c[0], src_), Action::kDeliver);
  expectError(c[0], "same chunk twice");
}

TEST_F(ReceiveMatcherRejects, ChunkOfCompletedMessage) {
  auto c = chunksOf(0, 1, 100);
  ASSERT_EQ(feed(m_, c[0], src_), Action::kDeliver);
  expectError(c[0], "message already complete");
}

TEST_F(ReceiveMatcherRejects, ChunkingNotAsDeclared) {
  auto h = chunksOf(0, 1, 3 * kChunk)[1];
  h.offset = kChunk + 1;
  h.chunk_len = kChunk - 1;
  expectError(h, "offset off the chunk grid");
  h = chunksOf(0, 1, 3 * kChunk)[0];
  h.chunk_len = kChunk / 2;
  expectError(h, "short chunk in the middle");
}

TEST_F(ReceiveMatcherRejects, TagOrLengthChangesBetweenChunks) {
  auto c = chunksOf(0, 1, 3 * kChunk);
  ASSERT_EQ(feed(m_, c[0], src_), Action::kDeliver);
  auto h = c[1];
  h.tag = 2;
  expectError(h, "tag changed");
  h = c[1];
  h.total_len = 4 * kChunk;
  expectError(h, "length changed");
}

TEST_F(ReceiveMatcherRejects, SequenceFarBeyondWindow) {
  expectError(chunksOf(wire::kMaxOpenMessages, 1, 10)[0], "beyond the window");
  expectError(chunksOf(~uint64_t{0}, 1, 10)[0], "sequence 2^64-1");
}

TEST_F(ReceiveMatcherRejects, EmptyChunkAtTheEndOfTheMessage) {
  // offset == total with length 0 passes decodeFrame's range check; for a
  // message of exactly 64 chunks it names chunk 64, past the bitmap.
  wire::FrameHeader h = chunksOf(0, 1, 64 * kChunk)[0];
  h.offset = h.total_len;
  h.chunk_len = 0;
  expectError(h, "empty chunk past the last one");
}

// A delivered message lets go of its request at once (the channel reuses
// request states nothing holds); the next messages reuse its slot cleanly,
// unexpected ones included.
TEST(ReceiveMatcher, DeliveredMessageReleasesItsRequestAndSlotStartsClean) {
  ReceiveMatcher m(kPeer, kChunk, 1 << 20);
  for (uint64_t seq = 0; seq < 20; ++seq) {
    auto src = payload(seq % 2 ? kChunk + 3 : 5, static_cast<uint8_t>(seq));
    std::vector<uint8_t> dst(src.size());
    auto req = recvReq(dst, 4);
    bool early = seq % 3 == 0;  // else the message arrives unexpected first
    if (early) m.post(req);
    for (const auto& h : chunksOf(seq, 4, src.size())) ASSERT_EQ(feed(m, h, src), Action::kDeliver);
    if (!early) m.post(req);
    ASSERT_TRUE(req->done()) << seq;
    EXPECT_TRUE(req->status().isOk()) << seq;
    EXPECT_EQ(req->bytes(), src.size());
    EXPECT_EQ(dst, src) << seq;
    EXPECT_EQ(req.use_count(), 1) << seq;
    EXPECT_EQ(m.unexpectedBytes(), 0u);
  }
  EXPECT_EQ(m.messagesReceived(), 20u);
}

// placeWhole takes only what route() would hand straight to the oldest
// posted receive as a whole message, and leaves everything else untouched
// for route().
TEST(ReceiveMatcher, PlaceWholeTakesOnlyTheNextWholeMessageForTheFrontReceive) {
  ReceiveMatcher m(kPeer, kChunk, 1 << 20);
  auto small = payload(100, 3);
  auto big = payload(2 * kChunk, 4);
  wire::FrameHeader h0 = chunksOf(0, 7, small.size())[0];
  // Nothing posted: refused (route() stages it as unexpected instead).
  EXPECT_FALSE(m.placeWhole(h0, small.data()));
  std::vector<uint8_t> wrong_tag(200), tiny(50), dst(200, 0xEE);
  auto r_wrong = recvReq(wrong_tag, 8);
  m.post(r_wrong);
  EXPECT_FALSE(m.placeWhole(h0, small.data())) << "front receive has another tag";
  EXPECT_TRUE(m.withdraw(*r_wrong, Status(StatusCode::kCancelled, "test")));
  auto r_tiny = recvReq(tiny, 7);
  m.post(r_tiny);
  EXPECT_FALSE(m.placeWhole(h0, small.data())) << "too small: route() reports it";
  EXPECT_TRUE(m.withdraw(*r_tiny, Status(StatusCode::kCancelled, "test")));
  auto req = recvReq(dst, kAnyTag);
  m.post(req);
  wire::FrameHeader later = chunksOf(1, 7, small.size())[0];
  EXPECT_FALSE(m.placeWhole(later, small.data())) << "message 0 has not arrived";
  EXPECT_FALSE(m.placeWhole(chunksOf(0, 7, big.size())[0], big.data())) << "one of two chunks";
  EXPECT_FALSE(req->done());
  EXPECT_EQ(m.announced(), 0u);

  uint64_t gen = m.generation();
  ASSERT_TRUE(m.placeWhole(h0, small.data()));
  ASSERT_TRUE(req->done());
  EXPECT_TRUE(req->status().isOk());
  EXPECT_EQ(req->bytes(), small.size());
  EXPECT_EQ(req->matchedTag(), 7u);
  EXPECT_TRUE(std::equal(small.begin(), small.end(), dst.begin()));
  EXPECT_EQ(dst[small.size()], 0xEE);
  EXPECT_EQ(m.announced(), 1u);
  EXPECT_NE(m.generation(), gen) << "lanes stalled on message 1 must look again";
  EXPECT_EQ(m.messagesReceived(), 1u);
  EXPECT_EQ(m.bytesReceived(), small.size());

  // The same message again is a duplicate to route(), and message 1 routes
  // (here as unexpected) as it would have without the shortcut.
  Status err;
  EXPECT_EQ(feed(m, h0, small, &err), Action::kError);
  EXPECT_EQ(feed(m, later, small), Action::kDeliver);
  std::vector<uint8_t> dst1(200);
  auto req1 = recvReq(dst1, 7);
  m.post(req1);
  ASSERT_TRUE(req1->done());
  EXPECT_TRUE(std::equal(small.begin(), small.end(), dst1.begin()));
}

}  // namespace
}  // namespace farlink
