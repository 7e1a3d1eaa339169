// Drives the built libnccl-net-farlink.so as NCCL does: dlopen, the exported
// tables, listen -> handle over a pipe -> connect/accept polled -> regMr ->
// tagged isend/irecv (grouped, 0 B .. 64 MiB, receive buffers larger than
// the message) -> close, between two processes; plus the failure cases:
// bad handles, a peer killed mid-message. Every wait is bounded.
//
// Environment: NCCL_PLUGIN_PATH (the .so); FARLINK_NCCL_TRANSPORT and
// FARLINK_NCCL_IFNAME default to tcp on lo unless set (the Soft-RoCE run
// sets verbs and the guest's interface).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "farlink/channel.h"
#include "peer_process.h"
#include "plugin/nccl/comm.h"
#include "plugin/nccl/handle.h"

namespace farlink::nccl::test {
namespace {

using std::chrono::milliseconds;
std::string g_plugin;

// Both ends of one connection in this process, polled as NCCL polls them
// (connect and accept each return NULL until ready).
template <typename SendNet, typename RecvNet>
void pairUp(const SendNet& tx, const RecvNet& rx, uint8_t* handle, void* listen_comm, void** send,
            void** recv) {
  *send = *recv = nullptr;
  auto deadline = std::chrono::steady_clock::now() + kStep;
  while ((*send == nullptr || *recv == nullptr) && std::chrono::steady_clock::now() < deadline) {
    if (*send == nullptr) {
      ASSERT_EQ(tx.connect(0, handle, send, nullptr), 0);
    }
    if (*recv == nullptr) {
      ASSERT_EQ(rx.accept(listen_comm, recv, nullptr), 0);
    }
  }
  ASSERT_NE(*send, nullptr);
  ASSERT_NE(*recv, nullptr);
}

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    p_ = loadPlugin(g_plugin);
    ASSERT_TRUE(p_.ok()) << p_.error;
    net_ = p_.v8;
    ASSERT_EQ(net_->init(stderrLogger), 0);
  }
  // Listens on device 0; the handle goes into handle_.
  void* listen() {
    void* l = nullptr;
    EXPECT_EQ(net_->listen(0, handle_, &l), 0);
    EXPECT_NE(l, nullptr);
    return l;
  }
  // Listens, starts the peer as a sending `role` with the handle, accepts.
  void acceptFromPeer(const char* role, Peer* peer, void** listen_comm, void** comm) {
    *listen_comm = listen();
    ASSERT_TRUE(spawnPeer(role, g_plugin, peer));
    ASSERT_TRUE(writeFull(peer->to_child, handle_, sizeof handle_));
    ASSERT_EQ(acceptPolled(*net_, *listen_comm, comm, kStep), 0);
    ASSERT_NE(*comm, nullptr);
  }
  // Polls a request of the peer's big message for a while: it must stay
  // pending, and the peer must still be running (so the kill that follows
  // is what the error is about).
  void expectInFlight(Peer& peer, void* req, int* size) {
    int done = 0, rc = 0;
    for (int i = 0; i < 100 && rc == 0 && done == 0; ++i) rc = net_->test(req, &done, size);
    int early = peer.wait(milliseconds(0));
    ASSERT_EQ(early, -1) << "the peer process ended by itself (status " << early << ")";
    ASSERT_EQ(rc, 0) << "test failed before the peer was killed";
    ASSERT_EQ(done, 0) << "the 1 GiB message completed before the kill";
  }
  LoadedPlugin p_;
  const NcclNetV8* net_ = nullptr;
  uint8_t handle_[kNcclNetHandleMaxSize] = {};
};

TEST_F(PluginTest, TablesAreComplete) {
  // The layout NCCL reads: 19 members in v8, 20 in v9/v10.
  static_assert(sizeof(NcclNetV8) == 19 * sizeof(void*));
  static_assert(sizeof(NcclNetV9) == 20 * sizeof(void*));
  static_assert(sizeof(NcclNetPropertiesV8) == 64);
  static_assert(offsetof(NcclNetPropertiesV9, latency) == 44);
  static_assert(offsetof(NcclNetPropertiesV9, max_p2p_bytes) == 88);
  for (const auto* t : {static_cast<const void*>(p_.v8), static_cast<const void*>(p_.v9),
                        static_cast<const void*>(p_.v10)})
    ASSERT_NE(t, nullptr) << "v8, v9 and v10 are all exported";
  EXPECT_STREQ(net_->name, "farlink");
  EXPECT_STREQ(p_.v9->name, "farlink");
  EXPECT_STREQ(p_.v10->name, "farlink");
  // Every mandatory entry is set; the device-offload ones are NULL (host-only).
  const void* const* v8 = reinterpret_cast<const void* const*>(net_);
  for (int i = 1; i <= 16; ++i) EXPECT_NE(v8[i], nullptr) << "v8 member " << i;
  EXPECT_EQ(net_->getDeviceMr, nullptr);
  EXPECT_EQ(net_->irecvConsumed, nullptr);
  const void* const* v9 = reinterpret_cast<const void* const*>(p_.v9);
  const void* const* v10 = reinterpret_cast<const void* const*>(p_.v10);
  for (int i = 1; i <= 16; ++i) {
    EXPECT_NE(v9[i], nullptr) << "v9 member " << i;
    EXPECT_NE(v10[i], nullptr) << "v10 member " << i;
  }
  EXPECT_EQ(p_.v9->makeVDevice, nullptr);

  int ndev = 0;
  ASSERT_EQ(net_->devices(&ndev), 0);
  ASSERT_GE(ndev, 1);
  for (int d = 0; d < ndev; ++d) {
    NcclNetPropertiesV8 p{};
    ASSERT_EQ(net_->getProperties(d, &p), 0);
    EXPECT_NE(p.name, nullptr);
    EXPECT_EQ(p.ptr_support, kNcclPtrHost);
    EXPECT_GT(p.speed, 0);
    EXPECT_GE(p.latency, 0.0f);
    EXPECT_GE(p.max_recvs, 1);
    EXPECT_LE(p.max_recvs, 8);
    EXPECT_GE(p.max_comms, 1);
    EXPECT_EQ(p.net_device_type, kNcclNetDeviceHost);
    NcclNetPropertiesV9 p9{};
    ASSERT_EQ(p_.v9->getProperties(d, &p9), 0);
    EXPECT_EQ(p9.speed, p.speed);
    EXPECT_EQ(p9.max_recvs, p.max_recvs);
    EXPECT_EQ(p9.v_props.ndevs, 1);
    EXPECT_GT(p9.max_p2p_bytes, size_t{64} << 20);
  }
  NcclNetPropertiesV8 none{};
  EXPECT_EQ(net_->getProperties(ndev, &none), kNcclInvalidArgument);
}

// Receives what the peer's sender-transfer role sends, checking every byte.
struct RecvSide {
  const NcclNetV8* net;
  void* comm;
  int recvOne(const Msg& m, int extra) {  // returns failures seen
    std::vector<uint8_t> buf(static_cast<size_t>(m.size + extra) + 1, 0xEE);
    void* mh = nullptr;
    EXPECT_EQ(net->regMr(comm, buf.data(), buf.size(), kNcclPtrHost, &mh), 0);
    void* data = buf.data();
    int cap = m.size + extra, tag = m.tag, size = -1;
    void* req = nullptr;
    EXPECT_EQ(irecvRetry(*net, comm, 1, &data, &cap, &tag, &mh, &req, kStep), 0);
    EXPECT_EQ(waitRequest(*net, req, &size, kStep), 0) << m.size << " bytes, tag " << m.tag;
    EXPECT_EQ(size, m.size) << "test must report the message size, not the buffer's";
    EXPECT_EQ(checkPattern(buf.data(), static_cast<size_t>(m.size), m.seed), -1)
        << "first bad byte of a " << m.size << "-byte message";
    EXPECT_EQ(buf[static_cast<size_t>(m.size)], 0xEE) << "wrote past the message";
    EXPECT_EQ(net->deregMr(comm, mh), 0);
    return ::testing::Test::HasFailure() ? 1 : 0;
  }
};

TEST_F(PluginTest, TransfersBetweenTwoProcessesAsNcclDoes) {
  Peer peer;
  void *l = nullptr, *comm = nullptr;
  ASSERT_NO_FATAL_FAILURE(acceptFromPeer("sender-transfer", &peer, &l, &comm));
  RecvSide rx{net_, comm};

  // 0 B .. 64 MiB into buffers 4 KiB larger than each message.
  for (const Msg& m : singleMessages()) ASSERT_EQ(rx.recvOne(m, 4096), 0);

  // Grouped receives, matched by tag although the peer sends them reversed.
  NcclNetPropertiesV8 props{};
  ASSERT_EQ(net_->getProperties(0, &props), 0);
  for (const auto& group : groupedMessages(props.max_recvs)) {
    int n = static_cast<int>(group.size());
    std::vector<std::vector<uint8_t>> bufs(group.size());
    std::vector<void*> data(group.size()), mhs(group.size());
    std::vector<int> caps(group.size()), tags(group.size()), sizes(group.size(), -1);
    for (int j = 0; j < n; ++j) {
      bufs[j].resize(static_cast<size_t>(group[j].size) + 100);
      data[j] = bufs[j].data();
      caps[j] = static_cast<int>(bufs[j].size());
      tags[j] = group[j].tag;
      ASSERT_EQ(net_->regMr(comm, data[j], bufs[j].size(), kNcclPtrHost, &mhs[j]), 0);
    }
    void* req = nullptr;
    ASSERT_EQ(
        irecvRetry(*net_, comm, n, data.data(), caps.data(), tags.data(), mhs.data(), &req, kStep),
        0);
    ASSERT_EQ(waitRequest(*net_, req, sizes.data(), kStep), 0) << "group of " << n;
    for (int j = 0; j < n; ++j) {
      EXPECT_EQ(sizes[j], group[j].size) << "receive " << j << " of " << n;
      EXPECT_EQ(checkPattern(bufs[j].data(), static_cast<size_t>(group[j].size), group[j].seed),
                -1);
      EXPECT_EQ(net_->deregMr(comm, mhs[j]), 0);
    }
  }

  // A stream over three tags with up to kWindow receives in flight.
  std::vector<Msg> stream = streamMessages(kStreamCount);
  struct Slot {
    std::vector<uint8_t> buf;
    void* req = nullptr;
    size_t msg = 0;
  };
  std::vector<Slot> window(kWindow);
  auto complete = [&](Slot& s) {
    int size = -1;
    ASSERT_EQ(waitRequest(*net_, s.req, &size, kStep), 0) << "stream message " << s.msg;
    const Msg& m = stream[s.msg];
    ASSERT_EQ(size, m.size) << "stream message " << s.msg;
    ASSERT_EQ(checkPattern(s.buf.data(), static_cast<size_t>(size), m.seed), -1)
        << "stream message " << s.msg;
  };
  for (size_t i = 0; i < stream.size(); ++i) {
    Slot& s = window[i % kWindow];
    if (i >= kWindow) {
      ASSERT_NO_FATAL_FAILURE(complete(s));
    }
    s.buf.assign(70000, 0);
    s.msg = i;
    void* data = s.buf.data();
    int cap = 70000, tag = stream[i].tag;
    ASSERT_EQ(irecvRetry(*net_, comm, 1, &data, &cap, &tag, nullptr, &s.req, kStep), 0);
  }
  for (size_t i = stream.size() - kWindow; i < stream.size(); ++i)
    ASSERT_NO_FATAL_FAILURE(complete(window[i % kWindow]));

  EXPECT_EQ(peer.wait(kStep), 0) << "the sending process reported a failure";
  EXPECT_EQ(net_->closeRecv(comm), 0);
  EXPECT_EQ(net_->closeListen(l), 0);
}

TEST_F(PluginTest, GarbageAndTruncatedHandlesAreRefused) {
  void* l = listen();
  std::mt19937 gen(3);
  auto tryConnect = [&](uint8_t* h) {
    void* comm = reinterpret_cast<void*>(0x1);
    int rc = net_->connect(0, h, &comm, nullptr);
    EXPECT_EQ(comm, nullptr);
    return rc;
  };
  uint8_t garbage[kNcclNetHandleMaxSize];
  for (auto& b : garbage) b = static_cast<uint8_t>(gen());
  EXPECT_EQ(tryConnect(garbage), kNcclInvalidArgument);
  uint8_t zeros[kNcclNetHandleMaxSize] = {};
  EXPECT_EQ(tryConnect(zeros), kNcclInvalidArgument);
  for (size_t keep : {4, 12, 20, 30, 36}) {  // cut short at several places
    uint8_t cut[kNcclNetHandleMaxSize] = {};
    std::memcpy(cut, handle_, keep);
    EXPECT_EQ(tryConnect(cut), kNcclInvalidArgument) << "handle cut after " << keep << " bytes";
  }
  for (size_t at : {5, 9, 14, 31}) {  // one flipped bit: version, port, address, nonce
    uint8_t flipped[kNcclNetHandleMaxSize];
    std::memcpy(flipped, handle_, sizeof flipped);
    flipped[at] ^= 0x10;
    EXPECT_EQ(tryConnect(flipped), kNcclInvalidArgument) << "bit flipped in byte " << at;
  }
  uint8_t stale[kNcclNetHandleMaxSize];  // a connect stage this process never started
  std::memcpy(stale, handle_, sizeof stale);
  stale[64] = 0x5a;
  EXPECT_EQ(tryConnect(stale), kNcclInvalidArgument);
  EXPECT_EQ(net_->closeListen(l), 0);

  // A valid handle whose listener is gone: an error once farlink gives up
  // (FARLINK_CONNECT_TIMEOUT_MS), never a hang.
  void* comm = nullptr;
  auto t0 = std::chrono::steady_clock::now();
  int rc = connectPolled(*net_, 0, handle_, &comm, kStep);
  EXPECT_NE(rc, kNcclSuccess);
  EXPECT_NE(rc, kTimeout);
  EXPECT_EQ(comm, nullptr);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, kStep);
}

TEST_F(PluginTest, AcceptPassesOverAClientWithoutTheHandlesNonce) {
  void* l = listen();
  auto h = decodeHandle(handle_);
  ASSERT_TRUE(h) << h.status().toString();
  // A farlink client that reached the port without the handle's nonce.
  auto opts = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(opts);
  auto stray = Channel::connect(h->uri(), *opts);
  ASSERT_TRUE(stray) << stray.status().toString();
  uint64_t wrong = h->nonce ^ 1;
  ASSERT_TRUE((*stray)->send(&wrong, sizeof wrong, kHelloTag, kStep));
  void* recv = nullptr;
  for (int i = 0; i < 50 && recv == nullptr; ++i) {
    ASSERT_EQ(net_->accept(l, &recv, nullptr), 0);
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(recv, nullptr) << "accept handed NCCL a channel that never presented the nonce";
  // The listener goes on, and the real connector gets through.
  void* send = nullptr;
  ASSERT_NO_FATAL_FAILURE(pairUp(*net_, *net_, handle_, l, &send, &recv));
  EXPECT_EQ(net_->closeSend(send), 0);
  EXPECT_EQ(net_->closeRecv(recv), 0);
  EXPECT_EQ(net_->closeListen(l), 0);
}

TEST_F(PluginTest, V9AndV10TablesCarryMessages) {
  // One process, both ends: v10 listens and receives, v9 connects and sends.
  const NcclNetV9& v9 = *p_.v9;
  const NcclNetV10& v10 = *p_.v10;
  ASSERT_EQ(v10.init(stderrLogger, nullptr), 0);
  ASSERT_EQ(v9.init(stderrLogger), 0);
  void* l = nullptr;
  ASSERT_EQ(v10.listen(0, handle_, &l), 0);
  void *send = nullptr, *recv = nullptr;
  ASSERT_NO_FATAL_FAILURE(pairUp(v9, v10, handle_, l, &send, &recv));
  auto deadline = std::chrono::steady_clock::now() + kStep;
  for (size_t size : {size_t{0}, size_t{3}, size_t{1} << 20}) {
    std::vector<uint8_t> out(size + 1), in(size + 64);
    fillPattern(out.data(), size, size);
    void *sreq = nullptr, *rreq = nullptr;
    void* data = in.data();
    size_t cap = in.size();
    int tag = 9;
    ASSERT_EQ(v10.irecv(recv, 1, &data, &cap, &tag, nullptr, nullptr, &rreq), 0);
    ASSERT_NE(rreq, nullptr);
    // NULL until the receive's clear-to-send has arrived: NCCL retries.
    while (sreq == nullptr && std::chrono::steady_clock::now() < deadline)
      ASSERT_EQ(v9.isend(send, out.data(), size, 9, nullptr, &sreq), 0);
    ASSERT_NE(sreq, nullptr);
    int sdone = 0, rdone = 0, ssize = -1, rsize = -1;
    while ((!sdone || !rdone) && std::chrono::steady_clock::now() < deadline) {
      if (!sdone) {
        ASSERT_EQ(v9.test(sreq, &sdone, &ssize), 0);
      }
      if (!rdone) {
        ASSERT_EQ(v10.test(rreq, &rdone, &rsize), 0);
      }
    }
    ASSERT_TRUE(sdone && rdone);
    EXPECT_EQ(static_cast<size_t>(ssize), size);
    EXPECT_EQ(static_cast<size_t>(rsize), size);
    EXPECT_EQ(checkPattern(in.data(), size, size), -1);
  }
  EXPECT_EQ(v9.closeSend(send), 0);
  EXPECT_EQ(v10.closeRecv(recv), 0);
  EXPECT_EQ(v10.closeListen(l), 0);
}

TEST_F(PluginTest, SendWaitsUntilTheReceiveIsAnnounced) {
  void* l = listen();
  void *send = nullptr, *recv = nullptr;
  ASSERT_NO_FATAL_FAILURE(pairUp(*net_, *net_, handle_, l, &send, &recv));
  std::vector<uint8_t> out(4096), in(4096);
  fillPattern(out.data(), out.size(), 3);
  void *sreq = nullptr, *rreq = nullptr;
  // No receive posted: "would block", however often NCCL asks.
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(net_->isend(send, out.data(), 4096, 6, nullptr, &sreq), 0);
    ASSERT_EQ(sreq, nullptr) << "isend started before any receive was posted (try " << i << ")";
  }
  // A receive of another tag does not clear this one.
  void* data = in.data();
  int cap = 4096, other = 7, tag = 6, size = -1;
  ASSERT_EQ(irecvRetry(*net_, recv, 1, &data, &cap, &other, nullptr, &rreq, kStep), 0);
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(net_->isend(send, out.data(), 4096, 6, nullptr, &sreq), 0);
    ASSERT_EQ(sreq, nullptr) << "a receive of tag 7 cleared a send of tag 6";
  }
  void* rreq6 = nullptr;
  ASSERT_EQ(irecvRetry(*net_, recv, 1, &data, &cap, &tag, nullptr, &rreq6, kStep), 0);
  ASSERT_EQ(isendRetry(*net_, send, out.data(), 4096, 6, nullptr, &sreq, kStep), 0);
  EXPECT_EQ(waitRequest(*net_, sreq, &size, kStep), 0);
  EXPECT_EQ(waitRequest(*net_, rreq6, &size, kStep), 0);
  EXPECT_EQ(size, 4096);
  EXPECT_EQ(checkPattern(in.data(), 4096, 3), -1);
  // The tag-7 receive is still pending; closing the comm cancels it.
  EXPECT_EQ(net_->closeSend(send), 0);
  EXPECT_EQ(net_->closeRecv(recv), 0);
  EXPECT_EQ(net_->closeListen(l), 0);
}

TEST_F(PluginTest, MessageLargerThanTheReceiveIsAnErrorAndTheCommGoesOn) {
  void* l = listen();
  void *send = nullptr, *recv = nullptr;
  ASSERT_NO_FATAL_FAILURE(pairUp(*net_, *net_, handle_, l, &send, &recv));
  std::vector<uint8_t> out(2000), in(1000);
  fillPattern(out.data(), out.size(), 11);
  void *sreq = nullptr, *rreq = nullptr;
  void* data = in.data();
  int cap = 1000, tag = 4, size = -1;
  // Receive first: a send waits for its receive to be announced.
  ASSERT_EQ(irecvRetry(*net_, recv, 1, &data, &cap, &tag, nullptr, &rreq, kStep), 0);
  ASSERT_EQ(isendRetry(*net_, send, out.data(), 2000, 4, nullptr, &sreq, kStep), 0);
  EXPECT_EQ(waitRequest(*net_, sreq, &size, kStep), 0);
  int rc = waitRequest(*net_, rreq, &size, kStep);
  EXPECT_NE(rc, kNcclSuccess) << "2000 bytes into a 1000-byte receive must fail";
  EXPECT_NE(rc, kTimeout);
  // The oversized message was dropped; the next one arrives intact.
  ASSERT_EQ(irecvRetry(*net_, recv, 1, &data, &cap, &tag, nullptr, &rreq, kStep), 0);
  ASSERT_EQ(isendRetry(*net_, send, out.data(), 1000, 4, nullptr, &sreq, kStep), 0);
  EXPECT_EQ(waitRequest(*net_, rreq, &size, kStep), 0);
  EXPECT_EQ(size, 1000);
  EXPECT_EQ(checkPattern(in.data(), 1000, 11), -1);
  EXPECT_EQ(waitRequest(*net_, sreq, &size, kStep), 0);
  EXPECT_EQ(net_->closeSend(send), 0);
  EXPECT_EQ(net_->closeRecv(recv), 0);
  EXPECT_EQ(net_->closeListen(l), 0);
}

// How long a plugin may take to notice a killed peer.
constexpr milliseconds kNoticeBound{20000};

TEST_F(PluginTest, ReceiverSeesAnErrorWhenTheSenderIsKilledMidMessage) {
  Peer peer;
  void *l = nullptr, *comm = nullptr;
  ASSERT_NO_FATAL_FAILURE(acceptFromPeer("sender-stall", &peer, &l, &comm));
  char ready = 0;
  ASSERT_TRUE(readFull(peer.from_child, &ready, 1, kStep));
  LazyBuffer lazy(kHugeMessage);
  void* buf = lazy.data();
  ASSERT_NE(buf, nullptr);
  int icap = static_cast<int>(kHugeMessage - 1), tag = 1, size = 0;
  void* req = nullptr;
  ASSERT_EQ(irecvRetry(*net_, comm, 1, &buf, &icap, &tag, nullptr, &req, kStep), 0);
  // Some bytes land, not all of 1 GiB.
  ASSERT_NO_FATAL_FAILURE(expectInFlight(peer, req, &size));
  peer.kill();
  auto t0 = std::chrono::steady_clock::now();
  int rc = waitRequest(*net_, req, &size, kNoticeBound);
  EXPECT_NE(rc, kTimeout) << "no error within " << kNoticeBound.count() << " ms";
  EXPECT_NE(rc, kNcclSuccess);
  std::printf(
      "receiver noticed the killed sender after %lld ms (rc %d)\n",
      static_cast<long long>(
          std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count()),
      rc);
  EXPECT_EQ(net_->closeRecv(comm), 0);
  EXPECT_EQ(net_->closeListen(l), 0);
}

TEST_F(PluginTest, SenderSeesAnErrorWhenTheReceiverIsKilled) {
  Peer peer;
  ASSERT_TRUE(spawnPeer("receiver-idle", g_plugin, &peer));
  ASSERT_TRUE(readFull(peer.from_child, handle_, sizeof handle_, kStep));
  void* comm = nullptr;
  ASSERT_EQ(connectPolled(*net_, 0, handle_, &comm, kStep), 0);
  char ready = 0;
  ASSERT_TRUE(readFull(peer.from_child, &ready, 1, kStep));
  LazyBuffer lazy(kHugeMessage);
  ASSERT_NE(lazy.data(), nullptr);
  void* req = nullptr;
  int sent = 0;
  ASSERT_EQ(isendRetry(*net_, comm, lazy.data(), static_cast<int>(kHugeMessage - 1), 1, nullptr,
                       &req, kStep),
            0);
  // An idle receiver cannot take 1 GiB.
  ASSERT_NO_FATAL_FAILURE(expectInFlight(peer, req, &sent));
  peer.kill();
  int rc = waitRequest(*net_, req, &sent, kNoticeBound);
  EXPECT_NE(rc, kTimeout) << "no error within " << kNoticeBound.count() << " ms";
  EXPECT_NE(rc, kNcclSuccess);
  EXPECT_EQ(net_->closeSend(comm), 0);
}

}  // namespace
}  // namespace farlink::nccl::test

int main(int argc, char** argv) {
  using namespace farlink::nccl::test;
  if (int rc = runPeerRole(argc, argv); rc >= 0) return rc;
  const char* plugin = std::getenv("NCCL_PLUGIN_PATH");
  if (plugin == nullptr) {
    std::fprintf(stderr, "set NCCL_PLUGIN_PATH to the built libnccl-net-farlink.so\n");
    return 2;
  }
  g_plugin = plugin;
  // Children inherit these; explicit settings (the Soft-RoCE run) win.
  setenv("FARLINK_NCCL_TRANSPORT", "tcp", 0);
  setenv("FARLINK_NCCL_IFNAME", "lo", 0);
  setenv("FARLINK_CONNECT_TIMEOUT_MS", "5000", 0);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
