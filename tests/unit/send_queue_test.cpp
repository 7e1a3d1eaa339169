// SendQueue: cutting messages into chunks on demand, sequence numbers, and
// completion only after every chunk of a message is done (in any order).
#include "core/send_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace farlink {
namespace {

constexpr uint32_t kChunk = 4096;

std::shared_ptr<RequestState> sendReq(const std::vector<uint8_t>& buf, uint64_t tag) {
  return std::make_shared<RequestState>(RequestState::Kind::kSend, std::weak_ptr<ChannelImpl>(),
                                        const_cast<uint8_t*>(buf.data()), buf.size(), tag);
}

TEST(SendQueue, CutsMessageIntoDeclaredChunks) {
  SendQueue q(kChunk);
  std::vector<uint8_t> data(2 * kChunk + 100);
  auto req = sendReq(data, 3);
  EXPECT_EQ(q.push(req, data.data(), data.size(), 3), 0u);
  EXPECT_EQ(q.bytesQueued(), data.size());
  std::vector<ChunkRef> chunks;
  while (auto c = q.take()) chunks.push_back(*c);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].offset, 0u);
  EXPECT_EQ(chunks[0].len, kChunk);
  EXPECT_EQ(chunks[1].offset, kChunk);
  EXPECT_EQ(chunks[2].offset, 2u * kChunk);
  EXPECT_EQ(chunks[2].len, 100u);
  EXPECT_EQ(chunks[0].msg->tag, 3u);
  EXPECT_EQ(chunks[0].msg->data, data.data());
  EXPECT_FALSE(q.hasChunks());
  EXPECT_EQ(q.bytesQueued(), 0u);
  // Done out of order: complete only after the last one.
  EXPECT_FALSE(q.done(chunks[2]));
  EXPECT_FALSE(q.done(chunks[0]));
  EXPECT_FALSE(req->done());
  EXPECT_TRUE(q.done(chunks[1]));
  ASSERT_TRUE(req->done());
  EXPECT_TRUE(req->status().isOk());
  EXPECT_EQ(req->bytes(), data.size());
  EXPECT_TRUE(q.empty());
}

TEST(SendQueue, ZeroByteMessageIsOneEmptyChunk) {
  SendQueue q(kChunk);
  std::vector<uint8_t> none;
  auto req = sendReq(none, 1);
  q.push(req, nullptr, 0, 1);
  auto c = q.take();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->len, 0u);
  EXPECT_FALSE(q.take().has_value());
  EXPECT_TRUE(q.done(*c));
  EXPECT_TRUE(req->done());
  EXPECT_EQ(req->bytes(), 0u);
}

TEST(SendQueue, ExactMultipleOfChunkHasNoEmptyTail) {
  SendQueue q(kChunk);
  std::vector<uint8_t> data(3 * kChunk);
  q.push(sendReq(data, 1), data.data(), data.size(), 1);
  int n = 0;
  while (auto c = q.take()) {
    EXPECT_EQ(c->len, kChunk);
    ++n;
  }
  EXPECT_EQ(n, 3);
}

TEST(SendQueue, SequencesAndInterleavedCompletion) {
  SendQueue q(kChunk);
  std::vector<std::vector<uint8_t>> data = {
      std::vector<uint8_t>(kChunk + 1), std::vector<uint8_t>(10), std::vector<uint8_t>(3 * kChunk)};
  std::vector<std::shared_ptr<RequestState>> reqs;
  for (size_t i = 0; i < data.size(); ++i) {
    reqs.push_back(sendReq(data[i], 10 + i));
    EXPECT_EQ(q.push(reqs[i], data[i].data(), data[i].size(), 10 + i), i);
  }
  EXPECT_EQ(q.messagesPushed(), 3u);
  std::vector<ChunkRef> chunks;
  while (auto c = q.take()) chunks.push_back(*c);
  ASSERT_EQ(chunks.size(), 2u + 1u + 3u);
  for (size_t i = 1; i < chunks.size(); ++i)
    EXPECT_GE(chunks[i].msg->seq, chunks[i - 1].msg->seq) << "chunks handed out of message order";
  // Finish the later messages first: each completes on its own last chunk.
  std::reverse(chunks.begin(), chunks.end());
  for (const ChunkRef& c : chunks) (void)q.done(c);
  for (auto& r : reqs) {
    ASSERT_TRUE(r->done());
    EXPECT_TRUE(r->status().isOk());
  }
  EXPECT_TRUE(q.empty());
}

TEST(SendQueue, PushWhileChunksInFlight) {
  SendQueue q(kChunk);
  std::vector<uint8_t> a(2 * kChunk), b(kChunk);
  auto ra = sendReq(a, 1), rb = sendReq(b, 2);
  q.push(ra, a.data(), a.size(), 1);
  auto c0 = *q.take();
  auto c1 = *q.take();
  EXPECT_TRUE(q.done(c0) == false);
  q.push(rb, b.data(), b.size(), 2);
  auto c2 = q.take();
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->msg->seq, 1u);
  EXPECT_TRUE(q.done(*c2));
  EXPECT_TRUE(rb->done());
  EXPECT_TRUE(q.done(c1));
  EXPECT_TRUE(ra->done());
  EXPECT_TRUE(q.empty());
}

TEST(SendQueue, FailAllCompletesEveryRequest) {
  SendQueue q(kChunk);
  std::vector<uint8_t> a(3 * kChunk), b(5);
  auto ra = sendReq(a, 1), rb = sendReq(b, 2);
  q.push(ra, a.data(), a.size(), 1);
  q.push(rb, b.data(), b.size(), 2);
  (void)q.take();
  q.failAll(Status(StatusCode::kPeerClosed, "lanes lost"));
  ASSERT_TRUE(ra->done());
  ASSERT_TRUE(rb->done());
  EXPECT_EQ(ra->status().code(), StatusCode::kPeerClosed);
  EXPECT_EQ(rb->status().code(), StatusCode::kPeerClosed);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.hasChunks());
  EXPECT_EQ(q.bytesQueued(), 0u);
}

// A completed message lets go of its request at once (the channel reuses
// request states nothing holds), and the message slot it leaves is reused
// without carrying anything over.
TEST(SendQueue, CompletedMessageReleasesItsRequestAndSlotStartsClean) {
  SendQueue q(kChunk);
  std::vector<uint8_t> a(kChunk + 1), b(7);
  auto ra = sendReq(a, 1);
  q.push(ra, a.data(), a.size(), 1);
  auto c0 = *q.take();
  auto c1 = *q.take();
  EXPECT_FALSE(q.done(c0));
  EXPECT_EQ(ra.use_count(), 2);
  EXPECT_TRUE(q.done(c1));
  EXPECT_EQ(ra.use_count(), 1);
  q.pushRma(wire::FrameType::kWrite, 42, b.data(), b.size(), 5, 100);
  auto c = q.take();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->msg->req, nullptr);
  EXPECT_EQ(c->msg->seq, 42u);
  EXPECT_EQ(c->msg->remote_offset, 100u);
  EXPECT_EQ(c->msg->chunks_in_flight, 1u);
  EXPECT_EQ(c->len, 7u);
  EXPECT_FALSE(q.done(*c));
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace farlink
