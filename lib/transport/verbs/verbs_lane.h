// One verbs lane: an rdma_cm id with its RC QP, CQ, completion channel and
// a registered slab of fixed-size slots that every SEND and RECV goes
// through. Handles are RAII; member order gives the teardown order
// QP → CQ → completion channel → MR → slab → PD → cm id.
#pragma once

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/channel_impl.h"
#include "core/send_queue.h"
#include "core/wire.h"
#include "transport/verbs/verbs_ack_timeout.h"

namespace farlink::verbs {

// Every frame (40-byte header + payload) fits one slot, so the chunk size a
// verbs peer announces is at most kSlotPayload (a protocol constant).
inline constexpr uint32_t kSlotPayload = 64 * 1024;
inline constexpr size_t kSlotBytes = wire::kFrameHeaderSize + kSlotPayload;
// Receives each lane keeps posted; also the credits a peer starts with.
inline constexpr uint32_t kRecvSlots = 16;
inline constexpr uint32_t kSendSlots = 16;
// The ACK timeout comes from the RTT (verbs_ack_timeout.h); with 7 retries
// a lane gives up after about 8 timeouts without an ACK.
inline constexpr uint8_t kRetryCount = 7;
inline constexpr uint8_t kRnrRetry = 7;  // 7 = retry forever
// Sends up to this size go inline (IBV_SEND_INLINE) when the device allows:
// the bytes travel in the work request, so the NIC (rxe: the kernel) does
// not look the slot up in the MR and fetch it; small-message latency is what
// gains. A 40-byte header plus a few hundred bytes, like perftest's 236 B.
inline constexpr uint32_t kWantInline = 256;

struct EventChannelDeleter {
  void operator()(rdma_event_channel* c) const noexcept { rdma_destroy_event_channel(c); }
};
struct CmIdDeleter {
  void operator()(rdma_cm_id* id) const noexcept;
};
struct PdDeleter {
  void operator()(ibv_pd* pd) const noexcept;
};
struct MrDeleter {
  void operator()(ibv_mr* mr) const noexcept;
};
struct CompChannelDeleter {
  void operator()(ibv_comp_channel* c) const noexcept;
};
struct CqDeleter {
  void operator()(ibv_cq* cq) const noexcept;
};
// The QP belongs to its cm id (rdma_create_qp); destroying it needs the id.
struct QpDeleter {
  void operator()(rdma_cm_id* id) const noexcept { rdma_destroy_qp(id); }
};
struct SlabDeleter {
  void operator()(uint8_t* p) const noexcept { std::free(p); }
};

using UniqueEventChannel = std::unique_ptr<rdma_event_channel, EventChannelDeleter>;
using UniqueCmId = std::unique_ptr<rdma_cm_id, CmIdDeleter>;

// wr_id: bit 31 set for receives, low bits the slot index.
inline constexpr uint64_t kRecvBit = uint64_t{1} << 31;

struct RxFrame {
  uint32_t slot;
  uint32_t len;
};

struct Lane {
  int index = 0;
  std::string peer;
  // --- resources, in construction order ---
  UniqueCmId id;
  std::unique_ptr<ibv_pd, PdDeleter> pd;
  std::unique_ptr<uint8_t, SlabDeleter> slab;  // kRecvSlots + kSendSlots slots
  std::unique_ptr<ibv_mr, MrDeleter> mr;
  std::unique_ptr<ibv_comp_channel, CompChannelDeleter> comp;
  std::unique_ptr<ibv_cq, CqDeleter> cq;
  std::unique_ptr<rdma_cm_id, QpDeleter> qp;  // holds the id whose QP it is
  bool established = false;
  bool disconnected = false;  // the peer's DREQ (or an error) arrived
  uint8_t ack_timeout = 0;    // what setAckTimeout asked for (0: kernel default)
  uint32_t max_inline = 0;    // the inline limit the device granted (0: none)

  // --- send side ---
  std::vector<uint32_t> free_send;  // free send slot indices
  // The chunk carried by each busy send slot (if any), to complete on its WC.
  std::vector<std::optional<std::pair<SendQueue*, ChunkRef>>> slot_chunk;
  std::vector<bool> slot_close;  // the slot carries a CLOSE frame
  uint32_t credits = kRecvSlots;  // receives the peer has posted for us
  uint32_t owed = 0;              // slots we reposted, not yet credited back
  uint32_t owed_frames = 0;       // of those, for frames (not credit notes)
  int sends_in_flight = 0;
  bool close_frame_sent = false;  // our CLOSE was acknowledged by the peer's NIC
  bool close_queued = false;

  // --- receive side ---
  std::deque<RxFrame> rxq;  // arrived, not yet consumed (lane order)
  bool stalled = false;     // the matcher cannot place rxq.front() yet
  bool have_cur = false;
  wire::FrameHeader cur{};
  bool peer_closed = false;
  uint64_t peer_total = 0;

  LaneStats stats;

  uint8_t* recvSlot(uint32_t i) const { return slab.get() + size_t{i} * kSlotBytes; }
  uint8_t* sendSlot(uint32_t i) const { return slab.get() + size_t{kRecvSlots + i} * kSlotBytes; }
  ~Lane();
};

// Allocates PD, slab, MR, CQ (with completion channel), the RC QP on `id`
// and posts every receive. `id` must have a resolved route (client) or come
// from a connect request (server); the lane takes ownership of it.
Status setupLane(Lane& lane, rdma_cm_id* id);
Status postRecv(Lane& lane, uint32_t slot);
// SEND (with immediate `imm` credits when `with_imm`) of len bytes of a send slot.
Status postSend(Lane& lane, uint32_t slot, uint32_t len, bool with_imm, uint32_t imm);
// Connection parameters both sides use (retry counts, RDMA read depth).
rdma_conn_param connParam(const Lane& lane);
// Asks rdma_cm to give the QP this local ACK timeout when it moves to RTS
// (the only transition that sets it): call before rdma_connect/rdma_accept.
void setAckTimeout(Lane& lane, uint8_t t);
// The QP's ACK timeout as the device reports it (ibv_query_qp); 0 if unknown.
uint8_t queryAckTimeout(const Lane& lane);
// Asks for a completion event; poll the CQ once more before sleeping, or a
// completion that arrived in between is missed.
bool armCq(Lane& lane);
// Reads and acks pending CQ events (non-blocking completion channel).
void drainCqEvents(Lane& lane);
// "10.77.0.1:51234" for the peer of a connected id.
std::string peerOf(rdma_cm_id* id);
// ibv/rdma call failed: a status naming what and whom.
Status verbsError(StatusCode code, const std::string& what, int err);
// True when at least one RDMA device is present.
bool haveRdmaDevice();

}  // namespace farlink::verbs
