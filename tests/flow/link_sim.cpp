#include "link_sim.h"

#include <algorithm>

namespace farlink::flow::sim {

uint64_t Link::lostSegments(uint64_t segments) {
  uint64_t lost = 0;
  for (uint64_t i = 0; i < segments && p_.loss > 0; ++i) lost += uniform() < p_.loss ? 1 : 0;
  return lost;
}

Link::Outcome Link::send(uint64_t bytes, FlowTime now, bool wire_loss) {
  Outcome o;
  FlowTime start = std::max(now, free_at_);
  o.queued = start - now;
  // Drop-tail: the bytes already waiting, plus this packet, must fit.
  double backlog = bytesIn(p_.rate, o.queued);
  if (backlog + static_cast<double>(bytes) > static_cast<double>(p_.queue_bytes)) {
    o.queue_drop = true;
    return o;
  }
  free_at_ = start + fromSeconds(static_cast<double>(bytes) / p_.rate);
  if (wire_loss && p_.loss > 0 && uniform() < p_.loss) return o;  // lost on the wire
  o.delivered = true;
  o.arrival = free_at_ + oneWay();
  return o;
}

void Meter::add(FlowTime t, uint64_t n) {
  auto i = static_cast<size_t>((t - FlowTime{}) / bin);
  if (bytes.size() <= i) bytes.resize(i + 1, 0);
  bytes[i] += n;
}

BytesPerSecond Meter::rate(FlowDuration from, FlowDuration to) const {
  auto a = static_cast<size_t>(from / bin), b = static_cast<size_t>(to / bin);
  uint64_t sum = 0;
  for (size_t i = a; i < b && i < bytes.size(); ++i) sum += bytes[i];
  return static_cast<double>(sum) / toSeconds(to - from);
}

Simulator::Simulator(const LinkParams& link) : link_(link) {}

void Simulator::schedule(FlowTime t, std::function<void()> fn) {
  events_.push(Event{std::max(t, now_), seq_++, std::move(fn)});
}

void Simulator::runUntil(FlowDuration since_start) {
  FlowTime end = at(since_start);
  while (!events_.empty() && events_.top().t <= end) {
    Event e = events_.top();
    events_.pop();
    now_ = e.t;
    e.fn();
  }
  now_ = end;
}

FlowDuration Simulator::meanQueueDelay(FlowDuration from, FlowDuration to) const {
  double sum = 0;
  uint64_t n = 0;
  for (const auto& s : queue_samples_) {
    if (s.t < at(from) || s.t >= at(to)) continue;
    sum += toSeconds(s.q);
    n++;
  }
  return n ? fromSeconds(sum / static_cast<double>(n)) : FlowDuration::zero();
}

FlowDuration Simulator::maxQueueDelay(FlowDuration from, FlowDuration to) const {
  FlowDuration m{0};
  for (const auto& s : queue_samples_)
    if (s.t >= at(from) && s.t < at(to)) m = std::max(m, s.q);
  return m;
}

FlowSender::FlowSender(Simulator& sim, std::unique_ptr<ChannelFlow> flow, uint64_t chunk_bytes)
    : sim_(sim),
      flow_(std::move(flow)),
      chunk_(chunk_bytes),
      noise_rng_(sim.link().params().seed + 1) {
  if (sim.link().params().mss > 0)
    streams_.resize(static_cast<size_t>(std::max(1, sim.link().params().streams)));
}

void FlowSender::setBursts(uint64_t bytes, std::vector<FlowDuration> gaps) {
  burst_bytes_ = bytes;
  burst_gaps_ = gaps.empty() ? std::vector<FlowDuration>{FlowDuration::zero()} : std::move(gaps);
}

void FlowSender::startBurst() {
  burst_unqueued_ = burst_bytes_;
  burst_start_.push_back(sim_.now());
  burst_arrived_.push_back(0);
  driven_ = true;
  std::vector<std::function<void()>> held;
  held.swap(held_);
  for (auto& fn : held) fn();
  pump();
}

void FlowSender::whenDriven(std::function<void()> fn) {
  if (driven_)
    fn();
  else
    held_.push_back(std::move(fn));
}

void FlowSender::start() {
  if (burst_bytes_ > 0) {
    sim_.schedule(sim_.now(), [this] { startBurst(); });
  } else {
    sim_.schedule(sim_.now(), [this] { pump(); });
  }
  sim_.schedule(sim_.now(), [this] { tick(); });
}

void FlowSender::tick() {
  if (driven_) {
    flow_->onTick(sim_.now());  // stalled-lane moves are already queued on other lanes
    pump();
  }
  sim_.schedule(sim_.now() + std::chrono::milliseconds(5), [this] { tick(); });
}

void FlowSender::pump() {
  FlowTime now = sim_.now();
  for (;;) {
    // The lane with the earliest expected completion takes the next chunk.
    std::optional<ChunkId> id;
    LaneId lane = kNoLane;
    for (LaneId l = 0; l < static_cast<LaneId>(flow_->scheduler().lanes()) && !id; ++l) {
      id = flow_->next(l);
      if (id) lane = l;
    }
    if (!id && burst_bytes_ > 0 && burst_unqueued_ == 0) {
      flow_->onAppLimited();  // the datapath's poll finds nothing queued
      if (driven_) {          // the burst is all handed over: off to other work
        driven_ = false;
        FlowDuration gap = burst_gaps_[next_gap_++ % burst_gaps_.size()];
        sim_.schedule(now + gap, [this] { startBurst(); });
      }
      return;
    }
    if (!id) {
      uint64_t bytes = burst_bytes_ > 0 ? std::min(chunk_, burst_unqueued_) : chunk_;
      auto r = flow_->assign(next_id_, bytes, Priority::kBulk, now);
      if (!r) return;  // no lane up
      id = next_id_++;
      lane = *r;
      if (burst_bytes_ > 0) {
        burst_unqueued_ -= bytes;
        chunk_burst_[*id] = burst_start_.size() - 1;
      }
    }
    SendDecision d = flow_->maySend(lane, *id, now);
    if (!d.allowed) {
      if (d.blocker == SendDecision::Blocker::kPacing && !wake_pending_) {
        wake_pending_ = true;
        sim_.schedule(now + d.wait, [this] {
          wake_pending_ = false;
          pump();
        });
      }
      return;  // an ack (cap) or the wake-up (pacing) resumes sending
    }
    transmit(lane, *id);
  }
}

void FlowSender::transmit(LaneId lane, ChunkId id) {
  FlowTime now = sim_.now();
  uint64_t bytes = *flow_->scheduler().chunkBytes(id);
  (void)flow_->onSend(lane, id, now);
  if (!streams_.empty()) return transmitTcp(lane, id, bytes, now);
  Link::Outcome o = sim_.link().send(bytes, now);
  if (!o.queue_drop) sim_.recordQueue(now, o.queued);
  if (o.delivered) {
    sim_.schedule(o.arrival, [this, bytes, id] {
      meter_.add(sim_.now(), bytes);
      delivered_ += bytes;
      if (auto b = chunk_burst_.find(id); b != chunk_burst_.end()) {
        uint64_t& arrived = burst_arrived_[b->second];
        arrived += bytes;
        if (arrived == burst_bytes_) burst_times_.push_back(sim_.now() - burst_start_[b->second]);
        chunk_burst_.erase(b);
      }
    });
    FlowTime seen = o.arrival + sim_.link().oneWay();
    FlowDuration noise = sim_.link().params().ack_noise;
    if (noise > FlowDuration::zero()) {
      auto late = static_cast<FlowDuration::rep>(static_cast<double>(noise_rng_() >> 11) *
                                                 0x1.0p-53 * static_cast<double>(noise.count()));
      seen = std::max(seen + FlowDuration(late), last_ack_seen_);
      last_ack_seen_ = seen;
    }
    sim_.schedule(seen, [this, lane, id, now] {
      bool on_time = driven_;
      whenDriven([this, lane, id, now, on_time] {
        FlowDuration rtt = on_time ? sim_.now() - now : FlowDuration::zero();
        flow_->onAck(lane, id, sim_.now(), rtt);
        trace_.push_back({sim_.now(), flow_->controller().pacingRate(),
                          flow_->controller().inflightCap(),
                          std::string(flow_->controller().stateName())});
        pump();
      });
    });
  } else {
    lost_++;
    // Detected like a SACK hole: about one RTT after sending.
    FlowTime seen = now + o.queued + sim_.link().params().rtt + std::chrono::milliseconds(1);
    sim_.schedule(seen, [this, lane, id] {
      whenDriven([this, lane, id] {
        (void)flow_->onLoss(lane, id, sim_.now());
        pump();
      });
    });
  }
}

void FlowSender::transmitTcp(LaneId lane, ChunkId id, uint64_t bytes, FlowTime now) {
  size_t stream = next_stream_++ % streams_.size();
  streams_[stream].push_back(InStream{id, lane, now, true});
  Link& link = sim_.link();
  Segments g = sendSegments(bytes, now);
  if (g.lost == 0) return arrived(stream, id, g.arrival);
  lost_ += g.lost;
  streams_[stream].back().clean = false;
  const uint64_t missing = g.missing;
  const FlowTime first = g.first;
  if (missing < bytes) {
    meter_.add(first, bytes - missing);
    delivered_ += bytes - missing;
    // The peer SACKs what arrived; the sender sees it half a round trip on.
    sim_.schedule(first + link.oneWay(), [this, lane, id, got = bytes - missing] {
      whenDriven([this, lane, id, got] { (void)flow_->onPartialAck(lane, id, got, sim_.now()); });
    });
  }
  // Those SACKs tell the kernel what is missing: it resends then.
  sim_.schedule(first + link.oneWay() + std::chrono::milliseconds(1),
                [this, stream, id, missing] { resend(stream, id, missing, sim_.now()); });
}

FlowSender::Segments FlowSender::sendSegments(uint64_t bytes, FlowTime now) {
  Link& link = sim_.link();
  uint64_t mss = link.params().mss;
  uint64_t segs = (bytes + mss - 1) / mss;
  Link::Outcome o = link.send(bytes, now, false);
  if (!o.queue_drop) sim_.recordQueue(now, o.queued);
  Segments g;
  g.lost = o.queue_drop ? segs : link.lostSegments(segs);
  g.missing = std::min(bytes, g.lost * mss);
  g.arrival = o.arrival;
  g.first = o.queue_drop ? now + link.oneWay() : o.arrival;
  return g;
}

void FlowSender::resend(size_t stream, ChunkId id, uint64_t bytes, FlowTime now) {
  Link& link = sim_.link();
  Segments g = sendSegments(bytes, now);
  if (g.missing < bytes) {
    meter_.add(g.first, bytes - g.missing);
    delivered_ += bytes - g.missing;
  }
  if (g.lost == 0) return arrived(stream, id, g.arrival);
  lost_ += g.lost;
  sim_.schedule(g.first + link.oneWay() + std::chrono::milliseconds(1),
                [this, stream, id, missing = g.missing] { resend(stream, id, missing, sim_.now()); });
}

void FlowSender::arrived(size_t stream, ChunkId id, FlowTime at) {
  for (InStream& c : streams_[stream]) {
    if (c.id != id) continue;
    c.ready = true;
    c.acked_at = at + sim_.link().oneWay();
    if (c.clean) {  // whole on the first try: count it now (else counted piecewise)
      meter_.add(at, *flow_->scheduler().chunkBytes(id));
      delivered_ += *flow_->scheduler().chunkBytes(id);
    }
    // Its ack, or the SACK for it if a hole holds up the stream.
    sim_.schedule(c.acked_at, [this, lane = c.lane, id] {
      whenDriven([this, lane, id] {
        if (auto b = flow_->scheduler().chunkBytes(id))
          (void)flow_->onPartialAck(lane, id, *b, sim_.now());
      });
    });
    sim_.schedule(c.acked_at, [this, stream] { flushStream(stream); });
    return;
  }
}

void FlowSender::flushStream(size_t stream) {
  // The cumulative ack moves up to the first chunk still missing bytes.
  std::deque<InStream>& q = streams_[stream];
  while (!q.empty() && q.front().ready && q.front().acked_at <= sim_.now()) {
    InStream c = q.front();
    q.pop_front();
    // A chunk whose ack waited on a hole before it gets no sample (as
    // StreamProgress drops marks acked by a repaired hole's jump).
    bool on_time = c.clean && c.acked_at == sim_.now();
    whenDriven([this, c, on_time] {
      FlowDuration rtt = on_time ? sim_.now() - c.sent : FlowDuration::zero();
      flow_->onAck(c.lane, c.id, sim_.now(), rtt);
      trace_.push_back({sim_.now(), flow_->controller().pacingRate(),
                        flow_->controller().inflightCap(),
                        std::string(flow_->controller().stateName())});
      pump();
    });
  }
}

RenoSender::RenoSender(Simulator& sim, uint64_t packet_bytes)
    : sim_(sim), pkt_(packet_bytes), cwnd_(10.0 * static_cast<double>(packet_bytes)) {}

void RenoSender::start() {
  sim_.schedule(sim_.now(), [this] { pump(); });
}

void RenoSender::pump() {
  while (static_cast<double>(inflight_ + pkt_) <= cwnd_) {
    FlowTime now = sim_.now();
    inflight_ += pkt_;
    Link::Outcome o = sim_.link().send(pkt_, now);
    if (!o.queue_drop) sim_.recordQueue(now, o.queued);
    if (o.delivered) {
      sim_.schedule(o.arrival, [this] { meter_.add(sim_.now(), pkt_); });
      sim_.schedule(o.arrival + sim_.link().oneWay(), [this, now] { onAck(now, pkt_); });
    } else {
      FlowTime seen = now + o.queued + sim_.link().params().rtt + std::chrono::milliseconds(1);
      sim_.schedule(seen, [this, now] { onLoss(now); });
    }
  }
}

void RenoSender::onAck(FlowTime, uint64_t bytes) {
  inflight_ -= bytes;
  double b = static_cast<double>(bytes);
  if (cwnd_ < ssthresh_)
    cwnd_ += b;  // slow start
  else
    cwnd_ += static_cast<double>(pkt_) * b / cwnd_;  // +1 packet per RTT
  pump();
}

void RenoSender::onLoss(FlowTime sent) {
  inflight_ -= pkt_;
  // One halving per window: losses of packets sent before the last cut
  // belong to the same congestion event.
  if (sent >= last_cut_) {
    cwnd_ = std::max(2.0 * static_cast<double>(pkt_), cwnd_ / 2);
    ssthresh_ = cwnd_;
    last_cut_ = sim_.now();
  }
  pump();  // the lost packet's data is re-sent as a new packet
}

}  // namespace farlink::flow::sim
