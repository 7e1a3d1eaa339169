#include "link_model.h"

#include <algorithm>
#include <cmath>

namespace farlink::wanem {

LinkModel::LinkModel(const LinkParams& params, uint64_t seed) : params_(params), rng_(seed) {}

int64_t LinkModel::backlogBytes(int64_t now_ns) const {
  if (params_.rate_bps <= 0 || busy_until_ns_ <= now_ns) return 0;
  return static_cast<int64_t>(static_cast<double>(busy_until_ns_ - now_ns) * params_.rate_bps / 8e9);
}

int64_t LinkModel::jitterSample() {
  if (params_.jitter_ns <= 0) return 0;
  double j = static_cast<double>(params_.jitter_ns);
  if (params_.jitter_dist == JitterDist::kUniform) {
    return static_cast<int64_t>(std::uniform_real_distribution<double>(-j, j)(rng_));
  }
  return static_cast<int64_t>(std::normal_distribution<double>(0.0, j)(rng_));
}

bool LinkModel::lost() {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  bool drop = params_.loss > 0 && u(rng_) < params_.loss;
  if (params_.ge.p > 0) {
    // Loss depends on the state the packet finds; then the state moves on.
    double p_state = ge_bad_ ? params_.ge.bad_loss : params_.ge.good_loss;
    if (p_state > 0 && u(rng_) < p_state) drop = true;
    ge_bad_ = ge_bad_ ? !(u(rng_) < params_.ge.r) : (u(rng_) < params_.ge.p);
  }
  return drop;
}

Admission LinkModel::admit(uint32_t bytes, int64_t now_ns) {
  counters_.arrived_packets++;
  counters_.arrived_bytes += bytes;
  if (now_ns < blackout_until_ns_) {
    counters_.dropped_blackout++;
    return {Fate::kDropBlackout, 0};
  }
  int64_t depart = now_ns;
  if (params_.rate_bps > 0) {
    int64_t limit = params_.queueLimit();
    if (limit > 0 && backlogBytes(now_ns) + bytes > limit) {
      counters_.dropped_queue++;
      return {Fate::kDropQueue, 0};
    }
    auto serialize = static_cast<int64_t>(std::ceil(bytes * 8e9 / params_.rate_bps));
    depart = std::max(now_ns, busy_until_ns_) + serialize;
    busy_until_ns_ = depart;
  }
  // Lost on the line after serialization: a lost packet still used the bottleneck.
  if (lost()) {
    counters_.dropped_loss++;
    return {Fate::kDropLoss, 0};
  }
  int64_t due = depart + params_.delay_ns + jitterSample();
  due = std::max(due, depart);  // jitter never makes a packet leave before it was sent
  if (!params_.reorder) due = std::max(due, last_due_ns_);
  last_due_ns_ = std::max(last_due_ns_, due);
  return {Fate::kForward, due};
}

void LinkModel::released(uint32_t bytes, int64_t due_ns, int64_t now_ns) {
  counters_.forwarded_packets++;
  counters_.forwarded_bytes += bytes;
  int64_t late = std::max<int64_t>(0, now_ns - due_ns);
  counters_.lateness_max_ns = std::max(counters_.lateness_max_ns, late);
  counters_.lateness_sum_ns += late;
}

void LinkModel::droppedForBuffer(uint32_t bytes) {
  counters_.arrived_packets++;
  counters_.arrived_bytes += bytes;
  counters_.dropped_buffer++;
}

}  // namespace farlink::wanem
