// The per-message path: isend / irecv / test, plus memory handles and
// closing comms. A request is one farlink isend, or one farlink irecv per
// buffer of a grouped receive; NCCL tags become farlink tags, and since
// farlink matches each tag's messages in send order, NCCL's in-order
// delivery per tag holds as it is.
#include "plugin/nccl/comm.h"
#include "plugin/nccl/plugin.h"
#include "plugin/nccl/plugin_log.h"

namespace farlink::nccl {
namespace {

static_assert(kCtsMaxTags == kMaxRecvs, "one announcement carries a whole grouped irecv");

ncclResult_t opFailed(Comm& c, const char* op, const std::string& detail, const Status& s) {
  logWarn(std::string(op) + " " + detail + (c.isSend() ? " to " : " from ") + c.peer() + ": " +
          s.toString() + "; the connection is unusable, NCCL should abort the communicator");
  return resultFor(s);
}

bool validMr(void* mhandle, const void* data, size_t size) {
  if (mhandle == nullptr) return true;  // NCCL always registers; tolerate callers that don't
  auto* mr = static_cast<MrHandle*>(mhandle);
  return mr->magic == MrHandle::kMagic && mr->covers(data, size);
}

}  // namespace

ncclResult_t pluginRegMr(void* comm, void* data, size_t size, int type, void** mhandle) {
  if (Comm::from(comm) == nullptr || mhandle == nullptr) return kNcclInvalidArgument;
  if (type != kNcclPtrHost) {
    logWarn("regMr: memory type " + std::to_string(type) +
            " is not host memory; this plugin reports ptrSupport=NCCL_PTR_HOST only");
    return kNcclInvalidArgument;
  }
  // farlink copies through the CPU on both datapaths, so registration only
  // records the range for the checks in isend/irecv.
  auto* mr = new MrHandle;
  mr->base = static_cast<const uint8_t*>(data);
  mr->size = size;
  *mhandle = mr;
  return kNcclSuccess;
}

ncclResult_t pluginRegMrDmaBuf(void* comm, void* data, size_t size, int type, uint64_t offset,
                               int fd, void** mhandle) {
  (void)offset;
  (void)fd;  // a dma-buf of host memory is still host memory
  return pluginRegMr(comm, data, size, type, mhandle);
}

ncclResult_t pluginDeregMr(void* comm, void* mhandle) {
  auto* mr = static_cast<MrHandle*>(mhandle);
  if (Comm::from(comm) == nullptr || mr == nullptr || mr->magic != MrHandle::kMagic)
    return kNcclInvalidArgument;
  mr->magic = 0;
  delete mr;
  return kNcclSuccess;
}

ncclResult_t pluginIsend(void* send_comm, void* data, size_t size, int tag, void* mhandle,
                         void** request) {
  Comm* c = Comm::from(send_comm, true);
  if (c == nullptr || request == nullptr || (data == nullptr && size > 0)) {
    logWarn("isend: not a send comm of this plugin, or a null buffer");
    return kNcclInvalidArgument;
  }
  *request = nullptr;
  if (size > kMaxMessageBytes || !validMr(mhandle, data, size)) {
    logWarn("isend of " + std::to_string(size) + " bytes to " + c->peer() +
            ": larger than maxP2pBytes or outside the registered memory");
    return kNcclInvalidArgument;
  }
  NetRequest* r = c->takeRequest(true, 1);
  if (r == nullptr) return kNcclSuccess;  // NCCL_NET_MAX_REQUESTS in flight: "would block"
  Result<bool> clear = c->ledger().take(c->channel(), tag);
  if (!clear || !*clear) {
    Comm::releaseRequest(r);
    // No receive announced for this tag yet: "would block", NCCL retries.
    if (clear) return kNcclSuccess;
    return opFailed(*c, "isend", "waiting for the receiver's clear-to-send", clear.status());
  }
  auto sent = c->channel().isend(data, size, farlinkTag(tag));
  if (!sent) {
    Comm::releaseRequest(r);
    return opFailed(*c, "isend",
                    "of " + std::to_string(size) + " bytes (tag " + std::to_string(tag) + ")",
                    sent.status());
  }
  r->sub[0] = std::move(sent.value());
  *request = r;
  return kNcclSuccess;
}

ncclResult_t pluginIrecv(void* recv_comm, int n, void** data, const size_t* sizes, const int* tags,
                         void** mhandles, void** request) {
  Comm* c = Comm::from(recv_comm, false);
  if (c == nullptr || request == nullptr || data == nullptr || sizes == nullptr ||
      tags == nullptr || n < 1 || n > kMaxRecvs) {
    logWarn("irecv: not a receive comm of this plugin, or n=" + std::to_string(n) + " outside 1.." +
            std::to_string(kMaxRecvs) + " (maxRecvs)");
    return kNcclInvalidArgument;
  }
  *request = nullptr;
  for (int i = 0; i < n; ++i) {
    if ((data[i] == nullptr && sizes[i] > 0) ||
        !validMr(mhandles ? mhandles[i] : nullptr, data[i], sizes[i])) {
      logWarn("irecv from " + c->peer() + ": buffer " + std::to_string(i) +
              " is null or outside its registered memory");
      return kNcclInvalidArgument;
    }
  }
  NetRequest* r = c->takeRequest(false, n);
  if (r == nullptr) return kNcclSuccess;
  for (int i = 0; i < n; ++i) {
    auto posted = c->channel().irecv(data[i], sizes[i], farlinkTag(tags[i]));
    if (!posted) {
      // Receives already posted stay with the channel, which is now
      // unusable anyway; the slot is given back.
      Comm::releaseRequest(r);
      return opFailed(
          *c, "irecv",
          "of " + std::to_string(sizes[i]) + " bytes (tag " + std::to_string(tags[i]) + ")",
          posted.status());
    }
    r->sub[i] = std::move(posted.value());
  }
  // The receives are posted whatever becomes of the announcement: if it
  // cannot go (the peer closed or the channel failed), no message can come
  // for them either and test() reports the channel's error.
  if (Status s = c->announcer().announce(c->channel(), std::span<const int>(tags, n)); !s)
    logInfo("irecv from " + c->peer() + ": could not announce " + std::to_string(n) +
            " receive(s): " + s.toString());
  *request = r;
  return kNcclSuccess;
}

ncclResult_t pluginIflush(void* recv_comm, int n, void** data, int* sizes, void** mhandles,
                          void** request) {
  (void)n;
  (void)data;
  (void)sizes;
  (void)mhandles;
  if (Comm::from(recv_comm, false) == nullptr || request == nullptr) return kNcclInvalidArgument;
  // Host memory is coherent once test() reported the receive: nothing to flush.
  *request = nullptr;
  return kNcclSuccess;
}

ncclResult_t pluginTest(void* request, int* done, int* sizes) {
  auto* r = static_cast<NetRequest*>(request);
  if (r == nullptr || done == nullptr || r->magic != NetRequest::kMagic) {
    logWarn("test: not a live request of this plugin (already completed, or never posted)");
    return kNcclInvalidArgument;
  }
  *done = 0;
  for (int i = 0; i < r->n; ++i)
    if (!r->sub[i].test()) return kNcclSuccess;
  *done = 1;
  Comm* c = r->comm;
  ncclResult_t res = kNcclSuccess;
  for (int i = 0; i < r->n && res == kNcclSuccess; ++i) {
    Status s = r->sub[i].status();
    if (!s) {
      res = opFailed(*c, r->send ? "isend" : "irecv",
                     "(request " + std::to_string(i + 1) + " of " + std::to_string(r->n) + ")", s);
    } else if (sizes != nullptr) {
      sizes[i] = static_cast<int>(r->sub[i].bytes());
    }
  }
  Comm::releaseRequest(r);
  return res;
}

namespace {
ncclResult_t closeComm(void* p, bool send) {
  Comm* c = Comm::from(p, send);
  if (c == nullptr) return kNcclInvalidArgument;
  c->close();
  delete c;
  return kNcclSuccess;
}
}  // namespace

ncclResult_t pluginCloseSend(void* send_comm) { return closeComm(send_comm, true); }
ncclResult_t pluginCloseRecv(void* recv_comm) { return closeComm(recv_comm, false); }

}  // namespace farlink::nccl
