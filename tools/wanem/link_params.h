// What one direction of the emulated link does to packets, and partial
// updates of it (from the command line or `ctl set`). Plain data.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "farlink/status.h"

namespace farlink::wanem {

enum class JitterDist : uint8_t { kNormal, kUniform };

// Gilbert–Elliott two-state burst loss. Disabled while p == 0.
struct GilbertElliott {
  double p = 0;         // per packet: good -> bad
  double r = 1;         // per packet: bad -> good
  double bad_loss = 1;  // loss probability in the bad state (1 - h)
  double good_loss = 0; // loss probability in the good state (1 - k)
};

struct LinkParams {
  int64_t delay_ns = 0;   // one-way propagation delay
  int64_t jitter_ns = 0;  // stddev (normal) or half-width (uniform) added to the delay
  JitterDist jitter_dist = JitterDist::kNormal;
  bool reorder = false;   // let jitter reorder packets (default: keep order)
  double rate_bps = 0;    // bottleneck rate; 0: unlimited
  int64_t queue_bytes = -1;  // bottleneck queue limit; -1: default (see queueLimit())
  double loss = 0;        // independent random loss probability
  GilbertElliott ge;

  // The tail-drop limit in bytes; 0 means no limit. Default when a rate is set:
  // one bandwidth-delay product at rate × (2 × delay), at least 64 KiB, so a
  // single TCP flow can fill the link without a bloated buffer.
  int64_t queueLimit() const;
  // Problems that make the parameters unusable, named for a person.
  Status validate() const;
};

// Optional changes to one direction; unset fields keep their value.
struct DirPatch {
  std::optional<int64_t> delay_ns, jitter_ns, queue_bytes;
  std::optional<JitterDist> jitter_dist;
  std::optional<bool> reorder;
  std::optional<double> rate_bps, loss, ge_p, ge_r, ge_bad_loss, ge_good_loss;

  bool empty() const;
  void applyTo(LinkParams& params) const;
};

struct LinkPatch {
  DirPatch a2b, b2a;
  bool empty() const { return a2b.empty() && b2a.empty(); }
};

nlohmann::json toJson(const LinkParams& p);
nlohmann::json toJson(const DirPatch& p);
// Rejects unknown keys and wrong types (the peer is our own ctl client, but
// the socket is a boundary all the same).
Result<DirPatch> dirPatchFromJson(const nlohmann::json& j);
// One line for people: "delay 15 ms, jitter 1 ms normal, rate 1 Gbit/s, queue 3.8 MB, loss 0.1%".
std::string describe(const LinkParams& p);

}  // namespace farlink::wanem
