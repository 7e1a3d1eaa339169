// What the peer process does in each two-process test. Exit codes: 0 done,
// 2 setup failed, 3 a plugin call failed, 4 data mismatch; messages on stderr.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "peer_process.h"

namespace farlink::nccl::test {
namespace {

#define PEER_CHECK(cond, code, ...)                           \
  do {                                                        \
    if (!(cond)) {                                            \
      std::fprintf(stderr, "nccl-peer: " __VA_ARGS__);        \
      std::fprintf(stderr, " (%s:%d)\n", __FILE__, __LINE__); \
      return code;                                            \
    }                                                         \
  } while (0)

struct SendBuf {
  std::vector<uint8_t> data;
  void* mh = nullptr;
  void* req = nullptr;
};

// Registers and posts one message of the script.
int post(const NcclNetV8& net, void* comm, const Msg& m, SendBuf* b) {
  b->data.resize(static_cast<size_t>(m.size) + 1);  // +1: a valid pointer for 0 B
  fillPattern(b->data.data(), static_cast<size_t>(m.size), m.seed);
  int rc = net.regMr(comm, b->data.data(), b->data.size(), kNcclPtrHost, &b->mh);
  PEER_CHECK(rc == 0, 3, "regMr of %d bytes returned %d", m.size, rc);
  rc = isendRetry(net, comm, b->data.data(), m.size, m.tag, b->mh, &b->req, kStep);
  PEER_CHECK(rc == 0, 3, "isend of %d bytes (tag %d) returned %d", m.size, m.tag, rc);
  return 0;
}

int finish(const NcclNetV8& net, void* comm, SendBuf* b, const Msg& m) {
  int size = -1;
  int rc = waitRequest(net, b->req, &size, kStep);
  PEER_CHECK(rc == 0, 3, "test of isend of %d bytes returned %d", m.size, rc);
  PEER_CHECK(size == m.size, 3, "test reported %d bytes sent, expected %d", size, m.size);
  rc = net.deregMr(comm, b->mh);
  PEER_CHECK(rc == 0, 3, "deregMr returned %d", rc);
  return 0;
}

int sendAll(const NcclNetV8& net, void* comm, const std::vector<Msg>& msgs) {
  std::vector<SendBuf> bufs(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i)
    if (int rc = post(net, comm, msgs[i], &bufs[i])) return rc;
  for (size_t i = 0; i < msgs.size(); ++i)
    if (int rc = finish(net, comm, &bufs[i], msgs[i])) return rc;
  return 0;
}

int connectFromPipe(const NcclNetV8& net, void** comm) {
  uint8_t handle[kNcclNetHandleMaxSize];
  PEER_CHECK(readFull(kChildIn, handle, sizeof handle, kStep), 2, "no handle from the parent");
  int rc = connectPolled(net, 0, handle, comm, kStep);
  PEER_CHECK(rc == 0 && *comm != nullptr, 3, "connect returned %d", rc);
  return 0;
}

// The sender half of the transfer test; the parent receives and verifies.
int senderTransfer(const NcclNetV8& net) {
  void* comm = nullptr;
  if (int rc = connectFromPipe(net, &comm)) return rc;
  if (int rc = sendAll(net, comm, singleMessages())) return rc;
  NcclNetPropertiesV8 props{};
  PEER_CHECK(net.getProperties(0, &props) == 0, 3, "getProperties failed");
  for (auto group : groupedMessages(props.max_recvs)) {
    // Reverse order: the grouped receive must match by tag, not by arrival.
    std::vector<Msg> reversed(group.rbegin(), group.rend());
    if (int rc = sendAll(net, comm, reversed)) return rc;
  }
  std::vector<Msg> stream = streamMessages(kStreamCount);
  std::deque<std::pair<SendBuf, Msg>> window;
  for (const Msg& m : stream) {
    if (window.size() == kWindow) {
      if (int rc = finish(net, comm, &window.front().first, window.front().second)) return rc;
      window.pop_front();
    }
    window.emplace_back(SendBuf{}, m);
    if (int rc = post(net, comm, m, &window.back().first)) return rc;
  }
  for (auto& [b, m] : window)
    if (int rc = finish(net, comm, &b, m)) return rc;
  PEER_CHECK(net.closeSend(comm) == 0, 3, "closeSend failed");
  return 0;
}

// Starts a message far larger than the link moves before the parent kills
// this process, so the parent's receive is cut off mid-message.
int senderStall(const NcclNetV8& net) {
  void* comm = nullptr;
  if (int rc = connectFromPipe(net, &comm)) return rc;
  LazyBuffer buf(kHugeMessage);
  PEER_CHECK(buf.data() != nullptr, 2, "mmap of 1 GiB failed");
  void* mh = nullptr;
  PEER_CHECK(net.regMr(comm, buf.data(), kHugeMessage, kNcclPtrHost, &mh) == 0, 3, "regMr failed");
  // Ready first: the isend waits for the parent's receive to be announced.
  PEER_CHECK(writeFull(kChildOut, "R", 1), 2, "cannot tell the parent");
  void* req = nullptr;
  int rc =
      isendRetry(net, comm, buf.data(), static_cast<int>(kHugeMessage - 1), 1, mh, &req, kStep);
  PEER_CHECK(rc == 0, 3, "isend returned %d", rc);
  ::sleep(120);  // the parent kills us long before
  return 0;
}

// Accepts, posts the receive, then never drives progress, so the parent's
// send stalls.
int receiverIdle(const NcclNetV8& net) {
  uint8_t handle[kNcclNetHandleMaxSize] = {};
  void* listen = nullptr;
  PEER_CHECK(net.listen(0, handle, &listen) == 0, 3, "listen failed");
  PEER_CHECK(writeFull(kChildOut, handle, sizeof handle), 2, "cannot send the handle");
  void* comm = nullptr;
  int rc = acceptPolled(net, listen, &comm, kStep);
  PEER_CHECK(rc == 0, 3, "accept returned %d", rc);
  // One receive for the parent's 1 GiB message, announced and then never
  // driven: the parent's send starts and stalls once the buffers are full.
  LazyBuffer buf(kHugeMessage);
  PEER_CHECK(buf.data() != nullptr, 2, "mmap of 1 GiB failed");
  void* data = buf.data();
  int cap = static_cast<int>(kHugeMessage - 1), tag = 1;
  void* req = nullptr;
  rc = irecvRetry(net, comm, 1, &data, &cap, &tag, nullptr, &req, kStep);
  PEER_CHECK(rc == 0, 3, "irecv returned %d", rc);
  PEER_CHECK(writeFull(kChildOut, "R", 1), 2, "cannot tell the parent");
  ::sleep(120);
  return 0;
}

}  // namespace

int runPeerRole(int argc, char** argv) {
  if (argc < 4 || std::strcmp(argv[1], "--nccl-peer") != 0) return -1;
  ::alarm(150);  // never outlive a broken parent
  std::string role = argv[2];
  LoadedPlugin p = loadPlugin(argv[3]);
  PEER_CHECK(p.ok(), 2, "cannot load %s: %s", argv[3], p.error.c_str());
  PEER_CHECK(p.v8->init(stderrLogger) == 0, 3, "init failed");
  if (role == "sender-transfer") return senderTransfer(*p.v8);
  if (role == "sender-stall") return senderStall(*p.v8);
  if (role == "receiver-idle") return receiverIdle(*p.v8);
  std::fprintf(stderr, "nccl-peer: unknown role %s\n", role.c_str());
  return 2;
}

}  // namespace farlink::nccl::test
