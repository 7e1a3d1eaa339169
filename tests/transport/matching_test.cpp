// Matching of messages to receives: many outstanding requests, receives
// posted before and after arrival, tags out of order, kAnyTag, and traffic
// in both directions at once.
#include <future>
#include <map>
#include <numeric>

#include "conformance.h"

namespace farlink::test {
namespace {

class ConformanceMatching : public Conformance {
 protected:
  // Drives `ch` until `flag` is set (by the peer's thread) or timeout.
  static bool driveUntil(Channel& ch, const std::atomic<bool>& flag,
                         std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (!flag && std::chrono::steady_clock::now() < end) (void)ch.progress(10ms);
    return flag;
  }
};

size_t mixedSize(size_t i) {
  if (i % 97 == 0) return (size_t{1} << 20) + i;  // a few multi-chunk messages
  if (i % 50 == 1) return 0;
  return (i * 7919) % 65536;
}

TEST_P(ConformanceMatching, ThousandOutstandingPostedBeforeAndAfterArrival) {
  constexpr size_t kN = 1000, kEarly = 500;
  constexpr uint64_t kTag = 7;
  std::vector<Buffer> outs, ins;
  for (size_t i = 0; i < kN; ++i) {
    outs.push_back(Buffer::patterned(mixedSize(i), 1000 + i));
    ins.push_back(Buffer(mixedSize(i)));
  }
  uint64_t late_bytes = 0;
  for (size_t i = kEarly; i < kN; ++i) late_bytes += mixedSize(i);

  std::promise<void> early_posted;
  std::atomic<bool> all_sent{false};
  runConcurrently({
      [&] {  // client: wait until the first receives are posted, then send all
        early_posted.get_future().wait_for(kShortWait);
        std::vector<Request> reqs;
        for (size_t i = 0; i < kN; ++i) {
          auto r = client().isend(outs[i].data(), outs[i].size(), kTag);
          ASSERT_TRUE(r.isOk()) << i << ": " << r.status().toString();
          reqs.push_back(*r);
        }
        for (size_t i = 0; i < kN; ++i) ASSERT_TRUE(reqs[i].wait(kLongWait).isOk()) << "send " << i;
        all_sent = true;
      },
      [&] {
        std::vector<Request> reqs;
        for (size_t i = 0; i < kEarly; ++i) {
          auto r = server().irecv(ins[i].data(), ins[i].size(), kTag);
          ASSERT_TRUE(r.isOk()) << r.status().toString();
          reqs.push_back(*r);
        }
        early_posted.set_value();
        for (size_t i = 0; i < kEarly; ++i)
          ASSERT_TRUE(reqs[i].wait(kLongWait).isOk()) << "recv " << i;
        // Keep reading while the sender finishes, then until every late
        // message sits in the unexpected buffer (no receive posted yet).
        ASSERT_TRUE(driveUntil(server(), all_sent, kLongWait)) << "sender did not finish";
        auto end = std::chrono::steady_clock::now() + kShortWait;
        while (server().stats().unexpected_bytes < late_bytes &&
               std::chrono::steady_clock::now() < end)
          (void)server().progress(10ms);
        EXPECT_EQ(server().stats().unexpected_bytes, late_bytes);
        EXPECT_EQ(server().stats().messages_staged, kN - kEarly);
        EXPECT_EQ(server().stats().bytes_staged, late_bytes);
        for (size_t i = kEarly; i < kN; ++i) {
          auto r = server().irecv(ins[i].data(), ins[i].size(), kTag);
          ASSERT_TRUE(r.isOk()) << r.status().toString();
          reqs.push_back(*r);
        }
        for (size_t i = kEarly; i < kN; ++i)
          ASSERT_TRUE(reqs[i].wait(kShortWait).isOk()) << "late recv " << i;
        for (size_t i = 0; i < kN; ++i) {
          ASSERT_EQ(reqs[i].bytes(), mixedSize(i)) << "message " << i << " matched out of order";
          ASSERT_TRUE(matchesPattern(ins[i].data(), ins[i].size(), 1000 + i)) << "message " << i;
        }
        EXPECT_EQ(server().stats().unexpected_bytes, 0u);
      },
  });
}

// Tags sent interleaved, received tag by tag in another order: each tag is
// its own ordered queue. seed = tag * 100 + position within the tag.
TEST_P(ConformanceMatching, TagsReceivedInDifferentOrderThanSent) {
  const uint64_t send_tags[] = {1, 2, 1, 3, 2, 1, 3};
  const uint64_t recv_tags[] = {3, 3, 2, 2, 1, 1, 1};
  auto sizeOf = [](uint64_t tag, int k) { return size_t(tag * 100'003 + k * (1u << 20) + 1); };
  std::atomic<bool> all_sent{false};
  runConcurrently({
      [&] {
        std::map<uint64_t, int> k;
        for (uint64_t t : send_tags) {
          int n = k[t]++;
          expectSend(client(), sizeOf(t, n), t, t * 100 + n);
        }
        all_sent = true;
      },
      [&] {
        // The first tag-3 receive is posted before anything arrives; the
        // rest after all messages are here (unexpected queue).
        Buffer first(sizeOf(3, 0));
        auto r = server().irecv(first.data(), first.size(), 3);
        ASSERT_TRUE(r.isOk());
        ASSERT_TRUE(driveUntil(server(), all_sent, kLongWait));
        ASSERT_TRUE(r->wait(kShortWait).isOk());
        EXPECT_TRUE(matchesPattern(first.data(), first.size(), 300));
        std::map<uint64_t, int> k{{3, 1}};
        for (size_t i = 1; i < std::size(recv_tags); ++i) {
          uint64_t t = recv_tags[i];
          int n = k[t]++;
          expectRecv(server(), sizeOf(t, n), t, sizeOf(t, n), t * 100 + n, kShortWait);
        }
      },
  });
}

TEST_P(ConformanceMatching, AnyTagMatchesEveryTagInPerTagOrder) {
  const uint64_t tags[] = {5, 9, 5, 9, 5};
  runConcurrently({
      [&] {
        std::map<uint64_t, int> k;
        for (uint64_t t : tags) {
          int n = k[t]++;
          expectSend(client(), 1000 + t * 10 + n, t, t * 100 + n);
        }
      },
      [&] {
        std::map<uint64_t, int> k;
        for (size_t i = 0; i < std::size(tags); ++i) {
          Buffer in(4096);
          auto r = server().irecv(in.data(), in.size(), kAnyTag);
          ASSERT_TRUE(r.isOk());
          ASSERT_TRUE(r->wait(kShortWait).isOk());
          uint64_t t = r->tag();
          ASSERT_TRUE(t == 5 || t == 9) << "tag " << t;
          int n = k[t]++;
          EXPECT_EQ(r->bytes(), 1000 + t * 10 + n) << "tag " << t << " #" << n;
          EXPECT_TRUE(matchesPattern(in.data(), r->bytes(), t * 100 + n)) << "tag " << t;
        }
        EXPECT_EQ(k[5], 3);
        EXPECT_EQ(k[9], 2);
      },
  });
}

TEST_P(ConformanceMatching, BidirectionalSimultaneous) {
  constexpr size_t kN = 40;
  auto sizeOf = [](size_t i) { return (i * 82'351) % (4u << 20) + i; };
  auto side = [&](Channel& ch, uint64_t my_seed, uint64_t peer_seed) {
    std::vector<Buffer> outs, ins;
    std::vector<Request> rr, sr;
    for (size_t i = 0; i < kN; ++i) {
      ins.push_back(Buffer(sizeOf(i)));
      auto r = ch.irecv(ins[i].data(), ins[i].size(), i % 4);
      ASSERT_TRUE(r.isOk());
      rr.push_back(*r);
    }
    for (size_t i = 0; i < kN; ++i) {
      outs.push_back(Buffer::patterned(sizeOf(i), my_seed + i));
      auto r = ch.isend(outs[i].data(), outs[i].size(), i % 4);
      ASSERT_TRUE(r.isOk());
      sr.push_back(*r);
    }
    for (auto& r : sr) ASSERT_TRUE(r.wait(kLongWait).isOk());
    for (size_t i = 0; i < kN; ++i) {
      ASSERT_TRUE(rr[i].wait(kLongWait).isOk()) << i;
      EXPECT_EQ(rr[i].bytes(), sizeOf(i));
      EXPECT_TRUE(matchesPattern(ins[i].data(), sizeOf(i), peer_seed + i)) << i;
    }
  };
  runConcurrently(
      {[&] { side(client(), 10'000, 20'000); }, [&] { side(server(), 20'000, 10'000); }});
}

// flush() returns once every isend so far has been handed to the kernel:
// afterwards each of those requests is finished.
TEST_P(ConformanceMatching, FlushFinishesEarlierSends) {
  constexpr size_t kN = 8, kSize = (1u << 20) + 3;
  std::vector<Buffer> outs;
  for (size_t i = 0; i < kN; ++i) outs.push_back(Buffer::patterned(kSize, 300 + i));
  runConcurrently({
      [&] {
        std::vector<Request> reqs;
        for (size_t i = 0; i < kN; ++i) {
          auto r = client().isend(outs[i].data(), kSize, 2);
          ASSERT_TRUE(r.isOk());
          reqs.push_back(*r);
        }
        Status s = client().flush(kLongWait);
        ASSERT_TRUE(s.isOk()) << s.toString();
        for (size_t i = 0; i < kN; ++i) {
          EXPECT_TRUE(reqs[i].done()) << "send " << i << " unfinished after flush()";
          EXPECT_TRUE(reqs[i].status().isOk()) << reqs[i].status().toString();
        }
      },
      [&] {
        for (size_t i = 0; i < kN; ++i) expectRecv(server(), kSize, 2, kSize, 300 + i);
      },
  });
}

// The thread that drives a channel may change: a receive posted (and waited
// on in vain) by a thread that has since exited must still complete when a
// different thread waits for it.
TEST_P(ConformanceMatching, DriverThreadMayChange) {
  Buffer in(64);
  Result<Request> r = Status(StatusCode::kCancelled, "not posted");
  std::thread([&] {
    r = server().irecv(in.data(), in.size(), 1);
    ASSERT_TRUE(r.isOk());
    EXPECT_EQ(r->wait(50ms).code(), StatusCode::kTimedOut);
  }).join();
  ASSERT_TRUE(r.isOk());
  runConcurrently({[&] { expectSend(client(), 64, 1, 9); },
                   [&] {
                     Status s = r->wait(kShortWait);
                     ASSERT_TRUE(s.isOk()) << s.toString();
                     EXPECT_TRUE(matchesPattern(in.data(), 64, 9));
                   }});
}

// The channel recycles request states once nothing holds them: Requests
// still held keep their own results however many operations follow, and a
// Request that outlives its channel still reports its result.
// Several threads block on one channel at once: one drives, the others
// sleep until its pass ends (the driver wakes them only when someone waits,
// and irecv may leave the lanes to the next wait). Each thread receives its
// own tag in order; half wait without a deadline, half with one.
TEST_P(ConformanceMatching, ManyThreadsWaitOnOneChannel) {
  constexpr uint64_t kThreads = 4;
  constexpr uint64_t kEach = 40;
  auto sizeOf = [](uint64_t t, uint64_t i) { return (t * 131 + i * 977) % 70'000; };
  std::vector<std::function<void()>> fns;
  for (uint64_t t = 0; t < kThreads; ++t) {
    fns.push_back([&, t] {
      for (uint64_t i = 0; i < kEach; ++i) expectSend(client(), sizeOf(t, i), t, t * 1000 + i);
    });
    fns.push_back([&, t] {
      Buffer in(70'000);
      for (uint64_t i = 0; i < kEach; ++i) {
        Result<Request> r = server().irecv(in.data(), in.size(), t);
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        Status s = r->wait(t % 2 == 0 ? kForever : kLongWait);
        ASSERT_TRUE(s.isOk()) << "thread " << t << ", message " << i << ": " << s.toString();
        ASSERT_EQ(r->bytes(), sizeOf(t, i));
        ASSERT_TRUE(matchesPattern(in.data(), r->bytes(), t * 1000 + i)) << t << "/" << i;
      }
    });
  }
  runConcurrently(fns);
}

TEST_P(ConformanceMatching, HeldRequestsKeepTheirResultsAcrossRecycling) {
  constexpr size_t kHeld = 3, kMore = 200;  // more than the channel keeps for reuse
  std::vector<Buffer> outs, ins;
  for (size_t i = 0; i < kHeld; ++i) {
    outs.push_back(Buffer::patterned(10 + i, 50 + i));
    ins.push_back(Buffer(64));
  }
  std::vector<Request> sends, recvs;
  for (size_t i = 0; i < kHeld; ++i) {
    auto r = server().irecv(ins[i].data(), ins[i].size(), 100 + i);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    recvs.push_back(*r);
    auto s = client().isend(outs[i].data(), outs[i].size(), 100 + i);
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    sends.push_back(*s);
  }
  runConcurrently({
      [&] {
        for (auto& s : sends) ASSERT_TRUE(s.wait(kLongWait).isOk());
        for (size_t i = 0; i < kMore; ++i) expectSend(client(), 1 + i % 7, 3, i);
      },
      [&] {
        for (auto& r : recvs) ASSERT_TRUE(r.wait(kLongWait).isOk());
        for (size_t i = 0; i < kMore; ++i) expectRecv(server(), 8, 3, 1 + i % 7, i);
      },
  });
  pair_.server.reset();  // the receives outlive their channel
  for (size_t i = 0; i < kHeld; ++i) {
    EXPECT_TRUE(sends[i].done() && sends[i].status().isOk()) << i;
    EXPECT_EQ(sends[i].bytes(), 10 + i);
    EXPECT_EQ(sends[i].tag(), 100 + i);
    EXPECT_TRUE(recvs[i].done() && recvs[i].status().isOk()) << i;
    EXPECT_EQ(recvs[i].bytes(), 10 + i);
    EXPECT_EQ(recvs[i].tag(), 100 + i);
    EXPECT_TRUE(matchesPattern(ins[i].data(), 10 + i, 50 + i)) << i;
  }
}

FARLINK_INSTANTIATE_CONFORMANCE(ConformanceMatching);

}  // namespace
}  // namespace farlink::test
