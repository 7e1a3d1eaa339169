// Counters of a running link as JSON (the `ctl stats --json` format) and as
// text for people.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "forwarder.h"

namespace farlink::wanem {

// One direction: params, summary, counters, lateness, backlog, in_flight.
nlohmann::json toJson(const DirectionSnapshot& s);
// Text from a stats reply (the object with "a2b" and "b2a").
std::string formatStats(const nlohmann::json& stats);

}  // namespace farlink::wanem
