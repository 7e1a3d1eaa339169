// A tiny discrete-event simulator of one long-haul bottleneck, used only by
// the flow tests: a FIFO drop-tail queue drained at a rate, a propagation
// delay each way, and random (non-congestion) loss on the wire. A
// ChannelFlow sender with an endless bulk backlog drives it, optionally next
// to a Reno-like loss-based flow sharing the queue. All time is simulated.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <unordered_map>
#include <vector>

#include "flow/channel_flow.h"

namespace farlink::flow::sim {

struct LinkParams {
  BytesPerSecond rate = 125e6;  // 1 Gb/s
  FlowDuration rtt = std::chrono::milliseconds(30);
  uint64_t queue_bytes = 8 << 20;
  double loss = 0;  // probability that a packet is lost on the wire
  uint64_t seed = 1;
  // The sender sees each ack up to this much late (uniformly), never before
  // an earlier one: a datapath polling its sockets from a busy host.
  FlowDuration ack_noise{0};
  // > 0: FlowSender's chunks travel as TCP streams of segments this large:
  // `loss` hits segments, not chunks; a lost segment is resent a round trip
  // later, as the kernel does; the peer SACKs what did arrive (a partial
  // ack); chunks complete in stream order, a hole holding up all behind it.
  uint64_t mss = 0;
  int streams = 4;  // TCP sockets the chunks are spread over, in turn
};

// The bottleneck: FIFO, drop-tail, serialised at `rate`.
class Link {
 public:
  explicit Link(const LinkParams& p) : p_(p), rng_(p.seed) {}
  struct Outcome {
    bool delivered = false;
    bool queue_drop = false;
    FlowTime arrival{};      // at the receiver
    FlowDuration queued{0};  // time spent waiting in the queue
  };
  // `wire_loss` false: the caller draws loss itself (lostSegments).
  Outcome send(uint64_t bytes, FlowTime now, bool wire_loss = true);
  // How many of `segments` are lost on the wire.
  uint64_t lostSegments(uint64_t segments);
  void setRate(BytesPerSecond r) { p_.rate = r; }
  void setRtt(FlowDuration rtt) { p_.rtt = rtt; }
  FlowDuration oneWay() const { return p_.rtt / 2; }
  const LinkParams& params() const { return p_; }

 private:
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  LinkParams p_;
  std::mt19937_64 rng_;
  FlowTime free_at_{};  // when the link finishes what is queued
};

class Simulator;

// Per-flow delivery counters, binned by arrival time at the receiver.
struct Meter {
  FlowDuration bin = std::chrono::milliseconds(100);
  std::vector<uint64_t> bytes;  // per bin
  void add(FlowTime t, uint64_t n);
  // Average rate over [from, to) of simulated time from the start.
  BytesPerSecond rate(FlowDuration from, FlowDuration to) const;
};

class Simulator {
 public:
  explicit Simulator(const LinkParams& link);

  FlowTime now() const { return now_; }
  FlowTime at(FlowDuration since_start) const { return FlowTime{} + since_start; }
  void schedule(FlowTime t, std::function<void()> fn);
  void runUntil(FlowDuration since_start);
  Link& link() { return link_; }

  // Queueing delay seen by packets entering the queue in [from, to).
  FlowDuration meanQueueDelay(FlowDuration from, FlowDuration to) const;
  FlowDuration maxQueueDelay(FlowDuration from, FlowDuration to) const;
  void recordQueue(FlowTime t, FlowDuration q) { queue_samples_.push_back({t, q}); }

 private:
  struct Event {
    FlowTime t;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  struct QueueSample {
    FlowTime t;
    FlowDuration q;
  };
  Link link_;
  FlowTime now_{};
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::vector<QueueSample> queue_samples_;
};

// A farlink channel (ChannelFlow) with an endless backlog of bulk chunks,
// or bursts of them with idle gaps between. Every lane crosses the same
// bottleneck.
class FlowSender {
 public:
  FlowSender(Simulator& sim, std::unique_ptr<ChannelFlow> flow, uint64_t chunk_bytes);
  // Before start(): send `bytes` at a time, as a pipelined allreduce sends
  // its pieces. Once a burst's last chunk is handed to a lane the
  // application stops driving the channel (it reduces, waits for its site):
  // acks and ticks wait until the next burst starts, `gap` later (`gaps`
  // are used in turn, round and round). Acks held so are reported without
  // an RTT sample, as the TCP datapath drops samples whose polls were far
  // apart; when nothing is queued the flow hears onAppLimited, as there.
  void setBursts(uint64_t bytes, std::vector<FlowDuration> gaps);
  // Per burst: from its start until its last byte reached the receiver.
  const std::vector<FlowDuration>& burstTimes() const { return burst_times_; }
  void start();
  ChannelFlow& flow() { return *flow_; }
  const Meter& meter() const { return meter_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t lostOnWire() const { return lost_; }
  // Sample of the controller after each ack: (time, pacing rate, state).
  struct Trace {
    FlowTime t;
    BytesPerSecond pacing;
    uint64_t cap;
    std::string state;
  };
  const std::vector<Trace>& trace() const { return trace_; }

 private:
  void pump();
  void transmit(LaneId lane, ChunkId id);
  // LinkParams::mss > 0: the chunk goes out on one of the TCP streams.
  void transmitTcp(LaneId lane, ChunkId id, uint64_t bytes, FlowTime now);
  void resend(size_t stream, ChunkId id, uint64_t bytes, FlowTime now);
  // Puts `bytes` on the link as MSS segments: how many were lost, the bytes
  // they held, when the rest arrives (`first`: or when a drop would have).
  struct Segments {
    uint64_t lost = 0, missing = 0;
    FlowTime arrival{}, first{};
  };
  Segments sendSegments(uint64_t bytes, FlowTime now);
  void arrived(size_t stream, ChunkId id, FlowTime at);
  void flushStream(size_t stream);
  struct InStream {
    ChunkId id;
    LaneId lane;
    FlowTime sent;
    bool clean;  // no segment lost: its ack may carry an RTT sample
    bool ready = false;
    FlowTime acked_at{};  // when its own last byte's ack reaches the sender
  };
  std::vector<std::deque<InStream>> streams_;
  size_t next_stream_ = 0;
  void tick();
  void startBurst();
  // Runs `fn` now if the application drives the channel, else when it next does.
  void whenDriven(std::function<void()> fn);

  Simulator& sim_;
  std::unique_ptr<ChannelFlow> flow_;
  uint64_t chunk_;
  uint64_t burst_bytes_ = 0;  // 0: endless backlog
  std::vector<FlowDuration> burst_gaps_;
  size_t next_gap_ = 0;
  uint64_t burst_unqueued_ = 0;  // bytes of the current burst not yet handed to the flow
  bool driven_ = true;
  std::vector<std::function<void()>> held_;
  std::vector<FlowTime> burst_start_;  // per burst
  std::vector<uint64_t> burst_arrived_;
  std::unordered_map<ChunkId, size_t> chunk_burst_;
  std::vector<FlowDuration> burst_times_;
  ChunkId next_id_ = 0;
  bool wake_pending_ = false;
  Meter meter_;
  uint64_t delivered_ = 0;
  uint64_t lost_ = 0;
  std::vector<Trace> trace_;
  std::mt19937_64 noise_rng_;
  FlowTime last_ack_seen_{};
};

// A Reno-like loss-based flow (slow start, +1 packet per RTT, halve once per
// RTT on loss, no pacing): the kind of competitor found on shared WAN links.
class RenoSender {
 public:
  RenoSender(Simulator& sim, uint64_t packet_bytes);
  void start();
  const Meter& meter() const { return meter_; }

 private:
  void pump();
  void onAck(FlowTime sent, uint64_t bytes);
  void onLoss(FlowTime sent);

  Simulator& sim_;
  uint64_t pkt_;
  double cwnd_;
  double ssthresh_ = 1e18;
  uint64_t inflight_ = 0;
  FlowTime last_cut_{};
  Meter meter_;
};

}  // namespace farlink::flow::sim
