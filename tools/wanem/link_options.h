// The link options shared by `up` and `ctl set`: --delay, --rate, ... for
// both directions, and --a2b-* / --b2a-* for one. A one-direction option wins
// over the both-directions one whatever their order on the command line.
#pragma once

#include <CLI/CLI.hpp>

#include "link_params.h"

namespace farlink::wanem {

// Registers the options on `app`; parsed values land in `*patch`. Bad values
// fail parsing with a CLI11 ValidationError naming the option.
void addLinkOptions(CLI::App* app, LinkPatch* patch);

}  // namespace farlink::wanem
