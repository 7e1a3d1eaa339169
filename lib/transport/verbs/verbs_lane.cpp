// Lane resources: creation in dependency order, noexcept deleters that log
// instead of throwing, and the few post/arm helpers both ends share.
#include "transport/verbs/verbs_lane.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace farlink::verbs {
namespace {

void logFailure(const char* what, int rc) {
  if (rc != 0) std::fprintf(stderr, "farlink verbs: %s failed: %s\n", what, std::strerror(rc < 0 ? -rc : rc));
}

}  // namespace

void CmIdDeleter::operator()(rdma_cm_id* id) const noexcept {
  logFailure("rdma_destroy_id", rdma_destroy_id(id) ? errno : 0);
}
void PdDeleter::operator()(ibv_pd* pd) const noexcept { logFailure("ibv_dealloc_pd", ibv_dealloc_pd(pd)); }
void MrDeleter::operator()(ibv_mr* mr) const noexcept { logFailure("ibv_dereg_mr", ibv_dereg_mr(mr)); }
void CompChannelDeleter::operator()(ibv_comp_channel* c) const noexcept {
  logFailure("ibv_destroy_comp_channel", ibv_destroy_comp_channel(c));
}
void CqDeleter::operator()(ibv_cq* cq) const noexcept { logFailure("ibv_destroy_cq", ibv_destroy_cq(cq)); }

Lane::~Lane() {
  // Moving the QP to the error state (rdma_disconnect) stops the NIC from
  // touching the slab; the deleters then run in member order.
  if (qp && established && !disconnected) rdma_disconnect(id.get());
}

Status verbsError(StatusCode code, const std::string& what, int err) {
  return Status(code, what + ": " + std::strerror(err), err);
}

std::string peerOf(rdma_cm_id* id) {
  sockaddr* sa = rdma_get_peer_addr(id);
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = ntohs(rdma_get_dst_port(id));
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(sa)->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(sa)->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "unknown peer";
}

bool haveRdmaDevice() {
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list != nullptr) ibv_free_device_list(list);
  return n > 0;
}

Status setupLane(Lane& lane, rdma_cm_id* raw_id) {
  lane.id.reset(raw_id);
  raw_id->context = &lane;
  ibv_context* ctx = raw_id->verbs;
  const std::string where = " for lane " + std::to_string(lane.index) + " to " + lane.peer;
  if (ctx == nullptr)
    return Status(StatusCode::kNotSupported, "no RDMA device serves the address" + where);
  ibv_device_attr dev{};
  if (int rc = ibv_query_device(ctx, &dev); rc != 0)
    return verbsError(StatusCode::kIoError, "ibv_query_device" + where, rc);
  lane.pd.reset(ibv_alloc_pd(ctx));
  if (!lane.pd) return verbsError(StatusCode::kIoError, "ibv_alloc_pd" + where, errno);
  size_t bytes = size_t{kRecvSlots + kSendSlots} * kSlotBytes;
  void* mem = nullptr;
  if (posix_memalign(&mem, 4096, bytes) != 0)
    return Status(StatusCode::kResourceExhausted, "cannot allocate lane buffers" + where);
  lane.slab.reset(static_cast<uint8_t*>(mem));
  lane.mr.reset(ibv_reg_mr(lane.pd.get(), mem, bytes, IBV_ACCESS_LOCAL_WRITE));
  if (!lane.mr)
    return verbsError(StatusCode::kResourceExhausted,
                      "ibv_reg_mr of " + std::to_string(bytes) + " bytes" + where +
                          " (raise the locked-memory limit: ulimit -l)",
                      errno);
  lane.comp.reset(ibv_create_comp_channel(ctx));
  if (!lane.comp) return verbsError(StatusCode::kIoError, "ibv_create_comp_channel" + where, errno);
  int fl = fcntl(lane.comp->fd, F_GETFL);
  fcntl(lane.comp->fd, F_SETFL, fl | O_NONBLOCK);
  int cqe = std::min<int>(kRecvSlots + kSendSlots + 8, dev.max_cqe);
  lane.cq.reset(ibv_create_cq(ctx, cqe, nullptr, lane.comp.get(), 0));
  if (!lane.cq) return verbsError(StatusCode::kIoError, "ibv_create_cq" + where, errno);
  ibv_qp_init_attr qa{};
  qa.send_cq = lane.cq.get();
  qa.recv_cq = lane.cq.get();
  qa.qp_type = IBV_QPT_RC;
  qa.sq_sig_all = 1;
  // Outstanding-WR limits from the device, never above what we use.
  qa.cap.max_send_wr = std::min<uint32_t>(kSendSlots, static_cast<uint32_t>(dev.max_qp_wr));
  qa.cap.max_recv_wr = std::min<uint32_t>(kRecvSlots, static_cast<uint32_t>(dev.max_qp_wr));
  qa.cap.max_send_sge = 1;
  qa.cap.max_recv_sge = 1;
  if (qa.cap.max_recv_wr < kRecvSlots || qa.cap.max_send_wr < kSendSlots)
    return Status(StatusCode::kNotSupported, "the RDMA device allows only " +
                                                 std::to_string(dev.max_qp_wr) +
                                                 " work requests per QP" + where);
  qa.cap.max_inline_data = kWantInline;
  if (rdma_create_qp(raw_id, lane.pd.get(), &qa) != 0) {
    // A device without inline support refuses the QP: ask again without.
    qa.cap.max_inline_data = 0;
    if (rdma_create_qp(raw_id, lane.pd.get(), &qa) != 0)
      return verbsError(StatusCode::kIoError, "rdma_create_qp" + where, errno);
  }
  lane.max_inline = qa.cap.max_inline_data;  // what the device granted
  lane.qp.reset(raw_id);
  lane.free_send.clear();
  for (uint32_t i = kSendSlots; i > 0; --i) lane.free_send.push_back(i - 1);
  lane.slot_chunk.assign(kSendSlots, std::nullopt);
  lane.slot_close.assign(kSendSlots, false);
  for (uint32_t i = 0; i < kRecvSlots; ++i)
    if (Status s = postRecv(lane, i); !s) return s;
  return Status();
}

Status postRecv(Lane& lane, uint32_t slot) {
  ibv_sge sge{reinterpret_cast<uintptr_t>(lane.recvSlot(slot)), static_cast<uint32_t>(kSlotBytes),
              lane.mr->lkey};
  ibv_recv_wr wr{};
  wr.wr_id = kRecvBit | slot;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_recv_wr* bad = nullptr;
  if (int rc = ibv_post_recv(lane.qp->qp, &wr, &bad); rc != 0)
    return verbsError(StatusCode::kIoError,
                      "ibv_post_recv on lane " + std::to_string(lane.index) + " to " + lane.peer, rc);
  return Status();
}

Status postSend(Lane& lane, uint32_t slot, uint32_t len, bool with_imm, uint32_t imm) {
  ibv_sge sge{reinterpret_cast<uintptr_t>(lane.sendSlot(slot)), len, lane.mr->lkey};
  ibv_send_wr wr{};
  wr.wr_id = slot;
  wr.sg_list = len > 0 ? &sge : nullptr;
  wr.num_sge = len > 0 ? 1 : 0;
  wr.opcode = with_imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND;
  wr.imm_data = htonl(imm);
  wr.send_flags = IBV_SEND_SIGNALED;
  // Inline: the slot may be reused as soon as the post returns, but slots
  // are freed on the completion anyway, so nothing else changes.
  if (len > 0 && len <= lane.max_inline) wr.send_flags |= IBV_SEND_INLINE;
  ibv_send_wr* bad = nullptr;
  if (int rc = ibv_post_send(lane.qp->qp, &wr, &bad); rc != 0)
    return verbsError(StatusCode::kIoError,
                      "ibv_post_send on lane " + std::to_string(lane.index) + " to " + lane.peer, rc);
  lane.sends_in_flight++;
  return Status();
}

rdma_conn_param connParam(const Lane&) {
  rdma_conn_param p{};
  p.responder_resources = 1;
  p.initiator_depth = 1;
  p.retry_count = kRetryCount;
  p.rnr_retry_count = kRnrRetry;
  return p;
}

void setAckTimeout(Lane& lane, uint8_t t) {
  // Kernels before 4.17 lack the option: their default stays (rdma_cm's
  // from the path record), which is what this code did before as well.
  if (rdma_set_option(lane.id.get(), RDMA_OPTION_ID, RDMA_OPTION_ID_ACK_TIMEOUT, &t, sizeof t) == 0)
    lane.ack_timeout = t;
}

uint8_t queryAckTimeout(const Lane& lane) {
  if (!lane.qp || lane.qp->qp == nullptr) return 0;
  ibv_qp_attr attr{};
  ibv_qp_init_attr init{};
  if (ibv_query_qp(lane.qp->qp, &attr, IBV_QP_TIMEOUT, &init) != 0) return 0;
  return attr.timeout;
}

bool armCq(Lane& lane) {
  if (!lane.cq) return true;
  if (ibv_req_notify_cq(lane.cq.get(), 0) != 0) return false;
  return true;
}

void drainCqEvents(Lane& lane) {
  if (!lane.comp) return;
  ibv_cq* cq = nullptr;
  void* ctx = nullptr;
  while (ibv_get_cq_event(lane.comp.get(), &cq, &ctx) == 0) ibv_ack_cq_events(cq, 1);
}

}  // namespace farlink::verbs
