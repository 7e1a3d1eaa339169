#include "link_options.h"

#include <fmt/format.h>

#include <functional>
#include <string>
#include <vector>

#include "units.h"

namespace farlink::wanem {
namespace {

// One option's parser: text -> value stored in a DirPatch.
template <typename T>
using Parser = Result<T> (*)(std::string_view);
template <typename T>
using Field = std::optional<T> DirPatch::*;

struct Target {
  std::string prefix;  // "", "a2b-", "b2a-"
  std::string group;
  std::vector<DirPatch*> dirs;
};

template <typename T>
void addValue(CLI::App* app, const Target& t, const std::string& name, Parser<T> parse,
              Field<T> field, const std::string& type, const std::string& help) {
  std::string flag = "--" + t.prefix + name;
  auto dirs = t.dirs;
  app->add_option_function<std::string>(
         flag,
         [flag, dirs, parse, field](const std::string& text) {
           auto v = parse(text);
           if (!v) throw CLI::ValidationError(flag, v.status().message());
           for (DirPatch* d : dirs) d->*field = *v;
         },
         help)
      ->type_name(type)
      ->group(t.group);
}

Result<JitterDist> parseDist(std::string_view text) {
  if (text == "normal") return JitterDist::kNormal;
  if (text == "uniform") return JitterDist::kUniform;
  return Status(StatusCode::kInvalidArgument,
                fmt::format("'{}' is not a jitter distribution: use normal or uniform", text));
}

void addSet(CLI::App* app, const Target& t) {
  std::string dir = t.prefix.empty() ? "each direction" : (t.prefix == "a2b-" ? "A to B" : "B to A");
  addValue<int64_t>(app, t, "delay", parseDuration, &DirPatch::delay_ns, "DURATION",
                    "One-way delay " + dir + ", e.g. 15ms (default 0)");
  addValue<int64_t>(app, t, "jitter", parseDuration, &DirPatch::jitter_ns, "DURATION",
                    "Delay variation " + dir + ": standard deviation (normal) or half-width (uniform)");
  addValue<JitterDist>(app, t, "jitter-dist", parseDist, &DirPatch::jitter_dist, "normal|uniform",
                       "Jitter distribution " + dir + " (default normal)");
  addValue<double>(app, t, "rate", parseRate, &DirPatch::rate_bps, "RATE",
                   "Bottleneck rate " + dir + ", e.g. 1gbit, 100mbit (default unlimited)");
  addValue<int64_t>(app, t, "queue", parseBytes, &DirPatch::queue_bytes, "SIZE",
                    "Bottleneck queue " + dir + " in bytes, tail drop beyond it, e.g. 1MB, 4MiB "
                    "(default with a rate: one BDP at rate x 2 x delay, at least 64 KiB; 0: unlimited)");
  addValue<double>(app, t, "loss", parseProbability, &DirPatch::loss, "PROB",
                   "Random loss " + dir + ", e.g. 1% or 0.01 (default 0)");
  addValue<double>(app, t, "ge-p", parseProbability, &DirPatch::ge_p, "PROB",
                   "Gilbert-Elliott burst loss " + dir + ": per-packet chance good->bad (0: off)");
  addValue<double>(app, t, "ge-r", parseProbability, &DirPatch::ge_r, "PROB",
                   "Gilbert-Elliott " + dir + ": per-packet chance bad->good (default 100%)");
  addValue<double>(app, t, "ge-bad-loss", parseProbability, &DirPatch::ge_bad_loss, "PROB",
                   "Gilbert-Elliott " + dir + ": loss in the bad state (default 100%)");
  addValue<double>(app, t, "ge-good-loss", parseProbability, &DirPatch::ge_good_loss, "PROB",
                   "Gilbert-Elliott " + dir + ": loss in the good state (default 0)");
  auto dirs = t.dirs;
  app->add_flag_callback(
         "--" + t.prefix + "reorder", [dirs] { for (DirPatch* d : dirs) d->reorder = true; },
         "Let jitter reorder packets " + dir + " (default: jitter keeps packet order)")
      ->group(t.group);
  app->add_flag_callback(
         "--" + t.prefix + "no-reorder", [dirs] { for (DirPatch* d : dirs) d->reorder = false; },
         "Keep packet order " + dir + " (undoes --reorder at run time)")
      ->group(t.group);
}

}  // namespace

void addLinkOptions(CLI::App* app, LinkPatch* patch) {
  // Definition order is callback order in CLI11: both-direction options first
  // so that the one-direction ones override them.
  addSet(app, {"", "Link (both directions)", {&patch->a2b, &patch->b2a}});
  addSet(app, {"a2b-", "Link A to B only", {&patch->a2b}});
  addSet(app, {"b2a-", "Link B to A only", {&patch->b2a}});
}

}  // namespace farlink::wanem
