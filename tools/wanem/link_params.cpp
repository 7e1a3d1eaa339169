#include "link_params.h"

#include <fmt/format.h>

#include <algorithm>

#include "units.h"

namespace farlink::wanem {

int64_t LinkParams::queueLimit() const {
  if (queue_bytes >= 0) return queue_bytes;
  if (rate_bps <= 0) return 0;
  double bdp = rate_bps * (2.0 * static_cast<double>(delay_ns) / 1e9) / 8.0;
  return std::max<int64_t>(64 * 1024, static_cast<int64_t>(bdp));
}

Status LinkParams::validate() const {
  auto prob = [](double v) { return v >= 0 && v <= 1; };
  if (delay_ns < 0 || jitter_ns < 0)
    return Status(StatusCode::kInvalidArgument, "delay and jitter must not be negative");
  if (!prob(loss) || !prob(ge.p) || !prob(ge.r) || !prob(ge.bad_loss) || !prob(ge.good_loss))
    return Status(StatusCode::kInvalidArgument, "loss probabilities must lie in [0, 1]");
  if (ge.p > 0 && ge.r == 0)
    return Status(StatusCode::kInvalidArgument,
                  "Gilbert-Elliott --ge-r is 0: the link would never leave the bad state");
  if (rate_bps < 0) return Status(StatusCode::kInvalidArgument, "rate must not be negative");
  return Status::ok();
}

bool DirPatch::empty() const {
  return !delay_ns && !jitter_ns && !queue_bytes && !jitter_dist && !reorder && !rate_bps &&
         !loss && !ge_p && !ge_r && !ge_bad_loss && !ge_good_loss;
}

void DirPatch::applyTo(LinkParams& p) const {
  if (delay_ns) p.delay_ns = *delay_ns;
  if (jitter_ns) p.jitter_ns = *jitter_ns;
  if (queue_bytes) p.queue_bytes = *queue_bytes;
  if (jitter_dist) p.jitter_dist = *jitter_dist;
  if (reorder) p.reorder = *reorder;
  if (rate_bps) p.rate_bps = *rate_bps;
  if (loss) p.loss = *loss;
  if (ge_p) p.ge.p = *ge_p;
  if (ge_r) p.ge.r = *ge_r;
  if (ge_bad_loss) p.ge.bad_loss = *ge_bad_loss;
  if (ge_good_loss) p.ge.good_loss = *ge_good_loss;
}

static const char* distName(JitterDist d) { return d == JitterDist::kUniform ? "uniform" : "normal"; }

nlohmann::json toJson(const LinkParams& p) {
  return {{"delay_ns", p.delay_ns},       {"jitter_ns", p.jitter_ns},
          {"jitter_dist", distName(p.jitter_dist)}, {"reorder", p.reorder},
          {"rate_bps", p.rate_bps},       {"queue_bytes", p.queueLimit()},
          {"loss", p.loss},               {"ge_p", p.ge.p},
          {"ge_r", p.ge.r},               {"ge_bad_loss", p.ge.bad_loss},
          {"ge_good_loss", p.ge.good_loss}};
}

nlohmann::json toJson(const DirPatch& p) {
  nlohmann::json j = nlohmann::json::object();
  if (p.delay_ns) j["delay_ns"] = *p.delay_ns;
  if (p.jitter_ns) j["jitter_ns"] = *p.jitter_ns;
  if (p.queue_bytes) j["queue_bytes"] = *p.queue_bytes;
  if (p.jitter_dist) j["jitter_dist"] = distName(*p.jitter_dist);
  if (p.reorder) j["reorder"] = *p.reorder;
  if (p.rate_bps) j["rate_bps"] = *p.rate_bps;
  if (p.loss) j["loss"] = *p.loss;
  if (p.ge_p) j["ge_p"] = *p.ge_p;
  if (p.ge_r) j["ge_r"] = *p.ge_r;
  if (p.ge_bad_loss) j["ge_bad_loss"] = *p.ge_bad_loss;
  if (p.ge_good_loss) j["ge_good_loss"] = *p.ge_good_loss;
  return j;
}

Result<DirPatch> dirPatchFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status(StatusCode::kProtocolError, "link patch is not a JSON object");
  DirPatch p;
  for (const auto& item : j.items()) {
    // Named copies, not a structured binding: lambdas may not capture those
    // before C++20 compilers caught up (clang 14).
    const std::string& key = item.key();
    const nlohmann::json& v = item.value();
    auto bad = [&](const char* want) {
      return Status(StatusCode::kProtocolError, fmt::format("link patch field '{}' is not {}", key, want));
    };
    auto integer = [&](std::optional<int64_t>& out) -> Status {
      if (!v.is_number_integer() || v.get<int64_t>() < 0) return bad("a non-negative integer");
      out = v.get<int64_t>();
      return Status::ok();
    };
    auto number = [&](std::optional<double>& out) -> Status {
      if (!v.is_number() || v.get<double>() < 0) return bad("a non-negative number");
      out = v.get<double>();
      return Status::ok();
    };
    Status s;
    if (key == "delay_ns") s = integer(p.delay_ns);
    else if (key == "jitter_ns") s = integer(p.jitter_ns);
    else if (key == "queue_bytes") s = integer(p.queue_bytes);
    else if (key == "rate_bps") s = number(p.rate_bps);
    else if (key == "loss") s = number(p.loss);
    else if (key == "ge_p") s = number(p.ge_p);
    else if (key == "ge_r") s = number(p.ge_r);
    else if (key == "ge_bad_loss") s = number(p.ge_bad_loss);
    else if (key == "ge_good_loss") s = number(p.ge_good_loss);
    else if (key == "reorder") {
      if (!v.is_boolean()) s = bad("a boolean");
      else p.reorder = v.get<bool>();
    } else if (key == "jitter_dist") {
      if (v == "normal") p.jitter_dist = JitterDist::kNormal;
      else if (v == "uniform") p.jitter_dist = JitterDist::kUniform;
      else s = bad("'normal' or 'uniform'");
    } else {
      s = Status(StatusCode::kProtocolError, fmt::format("unknown link patch field '{}'", key));
    }
    if (!s) return s;
  }
  return p;
}

std::string describe(const LinkParams& p) {
  std::string out = fmt::format("delay {}", formatDuration(p.delay_ns));
  if (p.jitter_ns > 0) {
    out += fmt::format(", jitter {} {}{}", formatDuration(p.jitter_ns), distName(p.jitter_dist),
                       p.reorder ? " (reordering)" : "");
  }
  out += fmt::format(", rate {}", formatRate(p.rate_bps));
  int64_t q = p.queueLimit();
  out += fmt::format(", queue {}", q > 0 ? formatBytes(q) : std::string("unlimited"));
  out += fmt::format(", loss {:g}%", p.loss * 100);
  if (p.ge.p > 0) {
    out += fmt::format(", burst loss p={:g} r={:g} bad={:g} good={:g}", p.ge.p, p.ge.r,
                       p.ge.bad_loss, p.ge.good_loss);
  }
  return out;
}

}  // namespace farlink::wanem
