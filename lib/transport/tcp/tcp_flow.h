// Channel-wide flow control for TCP lanes. farlink's controller (lib/flow)
// decides how fast the whole channel sends and how many bytes it keeps in
// flight; each lane's kernel TCP still does loss recovery. A chunk counts as
// acked once the peer's kernel has acked its last byte: the bytes the kernel
// accepted minus what is still in its send queue (SIOCOUTQ), polled while
// chunks are outstanding, so the wire protocol stays as it is. RTT samples
// run from bytes leaving the host (SIOCOUTQNSD: bytes not yet sent) to their
// ack, taken mid-burst so the receiver's delayed ACKs stay out of them (see
// flow/stream_progress.h). In flight counts only bytes not yet at the peer:
// a chunk partly below the cumulative ack, or partly SACKed beyond a hole
// (TCP_INFO's sacked segments), holds only its rest of the cap.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "farlink/channel.h"
#include "farlink/options.h"
#include "flow/channel_flow.h"
#include "flow/stream_progress.h"

namespace farlink::tcp {

class TcpFlow {
 public:
  // Chunks are cut at most this large when flow control is on: pacing and
  // the in-flight cap decide per chunk, and a 1 MiB chunk is already a
  // quarter of a 1 Gb/s x 30 ms path's BDP. Under random loss a chunk
  // completes only once its last lost segment is resent: at 1% loss 60% of
  // 128 KiB chunks wait, 84% of 256 KiB ones (measured on wanem at 300
  // Mbit/s, 30 ms: 0.64 vs 0.50 of the link, before partly delivered chunks
  // were credited against the cap; they still yield fewer rate samples).
  static constexpr uint32_t kChunkBytes = 128 * 1024;
  // The chunk size a connecting side announces on the connected socket
  // `fd` (its RTT is known from the TCP handshake): `chunk`, or at most
  // kChunkBytes when flow control will be on for this path.
  static uint32_t chunkForPath(const ChannelOptions& options, int fd, uint32_t chunk);

  // Null (and no error) when flow control is off for this channel: mode
  // kOff, or kAuto on a path whose RTT is below 1 ms (nothing to gain there
  // and every poll costs syscalls). `fds` are the connected lanes.
  static Result<std::unique_ptr<TcpFlow>> create(const ChannelOptions& options,
                                                 const std::vector<int>& fds, uint32_t chunk_bytes);

  // May a data chunk of `bytes` be handed to a lane now?
  bool mayTake(uint64_t bytes, flow::FlowTime now);
  // A data chunk of `bytes` goes out on `lane`; its last byte is `end_in_batch`
  // bytes into the batch being built there.
  void onTake(int lane, uint64_t end_in_batch, uint64_t bytes, flow::FlowTime now);
  // The batch (headers included) was handed to `lane`'s socket.
  void onBatch(int lane, uint64_t bytes) { lanes_[lane].submitted += bytes; }
  // Reads acks when due and feeds them to the controller; adjusts each
  // lane's kernel pacing. `accepted[i]`: bytes lane i's socket has taken.
  void poll(const std::vector<int>& fds, const std::vector<uint64_t>& accepted, bool nothing_queued,
            flow::FlowTime now);
  bool due(flow::FlowTime now) const { return now >= nextWake() || now >= last_poll_ + tick_; }
  // When the driver should wake to poll again; max() when nothing waits on us.
  flow::FlowTime nextWake() const { return std::min(ack_wake_, pacing_wake_); }
  FlowSummary summary(flow::FlowTime now) const;

 private:
  struct LaneState {
    uint64_t submitted = 0;  // bytes handed to the socket in batches
    flow::StreamProgress chunks;
    uint64_t kernel_pacing = 0;  // SO_MAX_PACING_RATE last set, bytes/s
  };

  TcpFlow(std::unique_ptr<flow::ChannelFlow> f, size_t lanes, flow::FlowDuration tick)
      : flow_(std::move(f)), lanes_(lanes), tick_(tick) {}
  void setKernelPacing(int fd, LaneState& lane);
  void scheduleWake(flow::FlowTime now);
  void trace(flow::FlowTime now);  // FARLINK_FLOW_TRACE: a line to stderr

  std::unique_ptr<flow::ChannelFlow> flow_;
  std::vector<LaneState> lanes_;
  flow::ChunkId next_id_ = 1;
  std::vector<flow::StreamProgress::Acked> acked_;     // scratch for poll()
  std::vector<flow::StreamProgress::Credit> credits_;  // scratch for poll()
  flow::FlowDuration tick_;
  flow::FlowTime last_poll_{};
  flow::FlowTime ack_wake_ = flow::FlowTime::max();     // read acks (chunks outstanding)
  flow::FlowTime pacing_wake_ = flow::FlowTime::max();  // a paced chunk may leave
  bool trace_ = false;
  flow::FlowTime last_trace_{};
  uint64_t paced_ = 0;   // mayTake refusals: pacing
  uint64_t capped_ = 0;  // mayTake refusals: in-flight cap
};

}  // namespace farlink::tcp
