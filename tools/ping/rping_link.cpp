#include "ping/rping_link.h"

#include <fcntl.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace farlink::ping::rdma {
namespace {

// rping's connection parameters: one outstanding RDMA READ each way (the
// server reads the client's start buffer), and the maximal retry counts (7 =
// retry receiver-not-ready forever, as rping asks).
rdma_conn_param rpingConnParam() {
  rdma_conn_param p{};
  p.responder_resources = 1;
  p.initiator_depth = 1;
  p.retry_count = 7;
  p.rnr_retry_count = 7;
  return p;
}

// A local ack timeout or retry exhaustion means the peer went silent.
std::string describeWc(const ibv_wc& wc) {
  std::string out = ibv_wc_status_str(wc.status);
  if (wc.status == IBV_WC_RETRY_EXC_ERR || wc.status == IBV_WC_RNR_RETRY_EXC_ERR)
    out += "; the peer stopped answering";
  else if (wc.status == IBV_WC_REM_ACCESS_ERR || wc.status == IBV_WC_LOC_PROT_ERR ||
           wc.status == IBV_WC_LOC_LEN_ERR || wc.status == IBV_WC_REM_INV_REQ_ERR)
    out += "; do both sides use the same -S?";
  return out;
}

}  // namespace

RpingAdvert Buffer::advert() const {
  return {reinterpret_cast<uintptr_t>(data.get()), mr->rkey, static_cast<uint32_t>(size)};
}

RpingLink::RpingLink(CmIdPtr id, rdma_event_channel* events, std::string peer,
                     std::chrono::milliseconds step_timeout, const std::atomic<bool>& stop,
                     bool debug)
    : events_(events),
      peer_(std::move(peer)),
      step_timeout_(step_timeout),
      stop_(stop),
      debug_(debug),
      id_(std::move(id)) {}

RpingLink::~RpingLink() = default;

Result<std::unique_ptr<RpingLink>> RpingLink::create(CmIdPtr id, rdma_event_channel* events,
                                                     std::string peer,
                                                     std::chrono::milliseconds step_timeout,
                                                     const std::atomic<bool>& stop, bool debug) {
  std::unique_ptr<RpingLink> link(
      new RpingLink(std::move(id), events, std::move(peer), step_timeout, stop, debug));
  if (Status s = link->setUp(); !s) return s;
  return link;
}

Status RpingLink::fail(StatusCode code, const std::string& message, int err) const {
  return Status(code, peer_ + ": " + message, err);
}

void RpingLink::debug(const std::string& line) const {
  if (!debug_) return;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

Status RpingLink::setUp() {
  ibv_context* verbs = id_->verbs;
  if (!verbs) return fail(StatusCode::kNotSupported, "the address is not on an RDMA device");
  pd_.reset(ibv_alloc_pd(verbs));
  if (!pd_) return fail(StatusCode::kIoError, "ibv_alloc_pd failed", errno);
  comp_channel_.reset(ibv_create_comp_channel(verbs));
  if (!comp_channel_) return fail(StatusCode::kIoError, "ibv_create_comp_channel failed", errno);
  const int flags = fcntl(comp_channel_->fd, F_GETFL);
  if (flags < 0 || fcntl(comp_channel_->fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return fail(StatusCode::kIoError, "cannot make the completion channel non-blocking", errno);
  cq_.reset(ibv_create_cq(verbs, kSendDepth * 2, nullptr, comp_channel_.get(), 0));
  if (!cq_) return fail(StatusCode::kIoError, "ibv_create_cq failed", errno);

  Result<Buffer*> recv = allocate(kAdvertSize * kRecvDepth, IBV_ACCESS_LOCAL_WRITE);
  if (!recv) return recv.status();
  recv_buf_ = *recv;
  Result<Buffer*> send = allocate(kAdvertSize, 0);
  if (!send) return send.status();
  send_buf_ = *send;

  ibv_qp_init_attr attr{};
  attr.cap.max_send_wr = kSendDepth;
  attr.cap.max_recv_wr = kRecvDepth;
  attr.cap.max_send_sge = 1;
  attr.cap.max_recv_sge = 1;
  attr.qp_type = IBV_QPT_RC;
  attr.send_cq = cq_.get();
  attr.recv_cq = cq_.get();
  if (rdma_create_qp(id_.get(), pd_.get(), &attr))
    return fail(StatusCode::kIoError, "rdma_create_qp failed", errno);
  qp_.adopt(id_.get());
  for (uint64_t slot = 0; slot < kRecvDepth; ++slot)
    if (Status s = postRecv(slot); !s) return s;
  return Status::ok();
}

Result<Buffer*> RpingLink::allocate(size_t size, int access) {
  auto b = std::make_unique<Buffer>();
  b->access = access;
  if (Status s = resize(b.get(), size); !s) return s;
  buffers_.push_back(std::move(b));
  return buffers_.back().get();
}

Status RpingLink::resize(Buffer* b, size_t size) {
  b->mr.reset();
  b->data = std::make_unique<char[]>(size);  // value-initialised: zeroed
  b->size = size;
  b->mr.reset(ibv_reg_mr(pd_.get(), b->data.get(), size, b->access));
  if (!b->mr)
    return fail(StatusCode::kIoError,
                "cannot register a " + std::to_string(size) +
                    "-byte buffer (ibv_reg_mr; raise `ulimit -l` or use a smaller -S)",
                errno);
  return Status::ok();
}

Status RpingLink::postRecv(uint64_t slot) {
  ibv_sge sge{};
  sge.addr = reinterpret_cast<uintptr_t>(recv_buf_->data.get() + slot * kAdvertSize);
  sge.length = kAdvertSize;
  sge.lkey = recv_buf_->mr->lkey;
  ibv_recv_wr wr{};
  wr.wr_id = slot;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_recv_wr* bad = nullptr;
  if (int e = ibv_post_recv(qp_.get(), &wr, &bad))
    return fail(StatusCode::kIoError, "ibv_post_recv failed", e);
  return Status::ok();
}

Status RpingLink::connect() {
  rdma_conn_param p = rpingConnParam();
  if (rdma_connect(id_.get(), &p)) return fail(StatusCode::kIoError, "rdma_connect failed", errno);
  return waitUntil([this] { return established_; }, "connecting");
}

Status RpingLink::accept() {
  rdma_conn_param p = rpingConnParam();
  if (rdma_accept(id_.get(), &p)) return fail(StatusCode::kIoError, "rdma_accept failed", errno);
  return waitUntil([this] { return established_; }, "accepting");
}

void RpingLink::disconnect() {
  if (disconnected_ || !established_) return;
  if (rdma_disconnect(id_.get())) return;
  // Bounded: the id's teardown completes the handshake if the peer is gone.
  const auto deadline = Clock::now() + std::min(step_timeout_, std::chrono::milliseconds{2000});
  while (!disconnected_) {
    Result<CmEvent> e = waitCmEvent(events_, deadline, stop_);
    if (!e) return;
    (void)handleCmEvent(*e, "disconnecting");  // sets disconnected_
  }
}

Status RpingLink::sendAdvert(const RpingAdvert& advert, const char* what) {
  if (Status s = waitUntil([this] { return sends_pending_ == 0; }, what); !s) return s;
  const AdvertBytes bytes = encodeAdvert(advert);
  std::memcpy(send_buf_->data.get(), bytes.data(), bytes.size());
  ibv_sge sge{};
  sge.addr = reinterpret_cast<uintptr_t>(send_buf_->data.get());
  sge.length = kAdvertSize;
  sge.lkey = send_buf_->mr->lkey;
  ibv_send_wr wr{};
  wr.opcode = IBV_WR_SEND;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_send_wr* bad = nullptr;
  if (int e = ibv_post_send(qp_.get(), &wr, &bad))
    return fail(StatusCode::kIoError, std::string("cannot post the SEND for ") + what, e);
  ++sends_pending_;
  if (debug_) {
    char line[128];
    std::snprintf(line, sizeof line, "RDMA addr %" PRIx64 " rkey %x len %u", advert.addr,
                  advert.rkey, advert.size);
    debug(line);
  }
  return Status::ok();
}

Result<RpingAdvert> RpingLink::receiveAdvert(const char* what) {
  if (Status s = waitUntil([this] { return !received_.empty(); }, what); !s) return s;
  RpingAdvert a = received_.front();
  received_.pop_front();
  return a;
}

Status RpingLink::rdma(ibv_wr_opcode opcode, Buffer* local, size_t len, const RpingAdvert& remote,
                       const char* what) {
  if (len > local->size)
    return fail(StatusCode::kInvalidArgument, std::string(what) + ": length past the buffer");
  ibv_sge sge{};
  sge.addr = reinterpret_cast<uintptr_t>(local->data.get());
  sge.length = static_cast<uint32_t>(len);
  sge.lkey = local->mr->lkey;
  ibv_send_wr wr{};
  wr.opcode = opcode;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.wr.rdma.remote_addr = remote.addr;
  wr.wr.rdma.rkey = remote.rkey;
  ibv_send_wr* bad = nullptr;
  if (int e = ibv_post_send(qp_.get(), &wr, &bad))
    return fail(StatusCode::kIoError, std::string("cannot post the ") + what, e);
  rdma_pending_ = true;
  return waitUntil([this] { return !rdma_pending_; }, what);
}

template <typename Done>
Status RpingLink::waitUntil(Done done, const std::string& what) {
  const auto deadline = Clock::now() + step_timeout_;
  while (!done())
    if (Status s = pump(deadline, what); !s) return s;
  return Status::ok();
}

Status RpingLink::pump(Clock::time_point deadline, const std::string& what) {
  for (;;) {
    ibv_wc wc[4];
    const int n = ibv_poll_cq(cq_.get(), 4, wc);
    if (n < 0) return fail(StatusCode::kIoError, "ibv_poll_cq failed while " + what);
    for (int i = 0; i < n; ++i)
      if (Status s = handleCompletion(wc[i], what); !s) return s;
    Result<CmEvent> ev = pollCmEvent(events_);
    if (ev) {
      if (Status s = handleCmEvent(*ev, what); !s) return s;
    } else if (ev.status().code() != StatusCode::kAgain) {
      return ev.status();
    }
    if (n > 0 || ev) return Status::ok();  // progress: let the caller re-check

    // Nothing queued: arm the CQ, look once more (a completion may have
    // slipped in before arming), then sleep on both channels.
    if (!cq_armed_) {
      if (ibv_req_notify_cq(cq_.get(), 0))
        return fail(StatusCode::kIoError, "ibv_req_notify_cq failed");
      cq_armed_ = true;
      continue;
    }
    Status s = waitReadable(comp_channel_->fd, events_->fd, deadline, stop_);
    if (s.code() == StatusCode::kTimedOut)
      return fail(StatusCode::kTimedOut,
                  "no answer within " + std::to_string(step_timeout_.count() / 1000) + " s while " +
                      what + "; is the peer alive? (--timeout sets the limit)");
    if (!s) return s;
    ibv_cq* cq = nullptr;
    void* ctx = nullptr;
    if (ibv_get_cq_event(comp_channel_.get(), &cq, &ctx) == 0) {
      ibv_ack_cq_events(cq, 1);
      cq_armed_ = false;
    }
  }
}

Status RpingLink::handleCompletion(const ibv_wc& wc, const std::string& what) {
  if (wc.status != IBV_WC_SUCCESS) {
    // Flushes follow a disconnect; report the disconnect, not the flush.
    if (wc.status == IBV_WC_WR_FLUSH_ERR && disconnected_)
      return fail(StatusCode::kPeerClosed, "disconnected while " + what);
    return fail(StatusCode::kIoError, "completion failed while " + what + ": " + describeWc(wc));
  }
  switch (wc.opcode) {
    case IBV_WC_SEND:
      --sends_pending_;
      return Status::ok();
    case IBV_WC_RDMA_READ:
    case IBV_WC_RDMA_WRITE:
      rdma_pending_ = false;
      return Status::ok();
    case IBV_WC_RECV: {
      const uint64_t slot = wc.wr_id;
      Result<RpingAdvert> a =
          decodeAdvert(reinterpret_cast<const uint8_t*>(recv_buf_->data.get() + slot * kAdvertSize),
                       wc.byte_len);
      if (!a) return fail(a.status().code(), "while " + what + ": " + a.status().message());
      if (debug_) {
        char line[128];
        std::snprintf(line, sizeof line, "Received rkey %x addr %" PRIx64 " len %u from peer",
                      a->rkey, a->addr, a->size);
        debug(line);
      }
      received_.push_back(*a);
      return postRecv(slot);
    }
    default:
      return fail(StatusCode::kProtocolError,
                  "unexpected completion opcode " + std::to_string(wc.opcode));
  }
}

Status RpingLink::handleCmEvent(const CmEvent& e, const std::string& what) {
  if (debug_) debug(std::string("cma_event type ") + describeEvent(e));
  if (e.type == RDMA_CM_EVENT_CONNECT_REQUEST) {
    // Another client while this one is served: refuse it rather than leave
    // it waiting. The id is ours now; destroy it.
    rdma_reject(e.id, nullptr, 0);
    rdma_destroy_id(e.id);
    return Status::ok();
  }
  if (e.id != id_.get()) return Status::ok();
  switch (e.type) {
    case RDMA_CM_EVENT_ESTABLISHED:
    case RDMA_CM_EVENT_CONNECT_RESPONSE:
      established_ = true;
      return Status::ok();
    case RDMA_CM_EVENT_DISCONNECTED:
      disconnected_ = true;
      return fail(StatusCode::kPeerClosed, "disconnected while " + what);
    case RDMA_CM_EVENT_TIMEWAIT_EXIT:
    case RDMA_CM_EVENT_ADDR_CHANGE:
      return Status::ok();
    default:
      return unexpectedEvent(e, peer_, what);
  }
}

}  // namespace farlink::ping::rdma
