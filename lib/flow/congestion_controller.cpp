#include "flow/congestion_controller.h"

#include <string>

#include "flow/fixed_controller.h"
#include "flow/model_controller.h"

namespace farlink::flow {

Status ControllerParams::validate() const {
  auto bad = [](std::string what) {
    return Status(StatusCode::kInvalidArgument, "flow controller parameters: " + what);
  };
  if (rate < 0) return bad("rate must not be negative");
  if (chunk_bytes == 0) return bad("chunk_bytes must be > 0");
  if (initial_window == 0) return bad("initial_window must be > 0");
  if (!(loss_threshold > 0 && loss_threshold <= 1)) return bad("loss_threshold must be in (0, 1]");
  if (min_rtt_window <= FlowDuration::zero()) return bad("min_rtt_window must be > 0");
  if (probe_rtt_duration < FlowDuration::zero()) return bad("probe_rtt_duration must be >= 0");
  if (queue_delay_floor < FlowDuration::zero() || queue_delay_fraction < 0)
    return bad("queue delay threshold must be >= 0");
  if (!(backoff_gain > 0 && backoff_gain < 1)) return bad("backoff_gain must be in (0, 1)");
  return Status::ok();
}

Result<std::unique_ptr<CongestionController>> makeController(std::string_view name,
                                                             const ControllerParams& params) {
  if (Status s = params.validate(); !s) return s;
  if (name == "fixed") {
    if (params.rate <= 0 || params.window == 0)
      return Status(StatusCode::kInvalidArgument,
                    "flow controller \"fixed\" needs a rate (bytes/s) and a window (bytes) > 0; "
                    "set both or use \"model\"");
    return std::unique_ptr<CongestionController>(std::make_unique<FixedController>(params));
  }
  if (name == "model")
    return std::unique_ptr<CongestionController>(std::make_unique<ModelController>(params));
  return Status(StatusCode::kInvalidArgument, "unknown flow controller \"" + std::string(name) +
                                                  "\"; use \"model\" or \"fixed\"");
}

}  // namespace farlink::flow
