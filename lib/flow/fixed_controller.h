// Lab mode: the user's rate and window, whatever the network says.
#pragma once

#include "flow/congestion_controller.h"

namespace farlink::flow {

class FixedController final : public CongestionController {
 public:
  // Requires params.rate > 0 and params.window > 0 (makeController checks).
  explicit FixedController(const ControllerParams& params)
      : rate_(params.rate), window_(params.window) {}

  void onSend(const SendEvent&) override {}
  void onAck(const AckEvent&) override {}
  void onLoss(const LossEvent&) override {}
  void onTick(FlowTime) override {}
  BytesPerSecond pacingRate() const override { return rate_; }
  uint64_t inflightCap() const override { return window_; }
  std::string_view stateName() const override { return "fixed"; }
  std::string_view limitingFactor() const override { return "fixed rate and window"; }

 private:
  BytesPerSecond rate_;
  uint64_t window_;
};

}  // namespace farlink::flow
