#include "plugin/nccl/config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace farlink::nccl {
namespace {

Status badVar(const char* name, const char* value, const char* expected) {
  return Status(StatusCode::kInvalidArgument, std::string("environment variable ") + name + "='" +
                                                  value + "' is not " + expected);
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

Result<PluginConfig> PluginConfig::fromEnvironment() {
  PluginConfig c;
  auto opts = ChannelOptions::fromEnvironment();
  if (!opts) return opts.status();
  c.options = *opts;
  if (const char* v = std::getenv("FARLINK_NCCL_TRANSPORT")) {
    std::string t(v);
    if (t == "tcp")
      c.scheme = Scheme::kTcp;
    else if (t == "verbs")
      c.scheme = Scheme::kVerbs;
    else if (t == "auto")
      c.scheme = Scheme::kAuto;
    else
      return badVar("FARLINK_NCCL_TRANSPORT", v, "tcp, verbs or auto");
  }
  if (const char* v = std::getenv("FARLINK_NCCL_IFNAME")) c.ifnames = splitList(v);
  if (const char* v = std::getenv("FARLINK_NCCL_LATENCY_US")) {
    errno = 0;
    char* end = nullptr;
    float f = std::strtof(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !std::isfinite(f) || f < 0)
      return badVar("FARLINK_NCCL_LATENCY_US", v, "a non-negative number of microseconds");
    c.latency_us = f;
  }
  return c;
}

std::string PluginConfig::describe() const {
  std::string ifs;
  for (const auto& i : ifnames) ifs += (ifs.empty() ? "" : ",") + i;
  const char* policy = options.verbs_policy == VerbsPolicy::kAuto       ? "auto"
                       : options.verbs_policy == VerbsPolicy::kRequired ? "required"
                                                                        : "off";
  return std::string("transport=") + schemeName(scheme) + " (FARLINK_NCCL_TRANSPORT)" +
         " verbs_policy=" + policy + " lanes=" + std::to_string(options.lanes) +
         " chunk=" + std::to_string(options.chunk_size) +
         " socket_buffer=" + std::to_string(options.socket_buffer) +
         " connect_timeout_ms=" + std::to_string(options.connect_timeout.count()) +
         " psk=" + (options.psk.empty() ? "off" : "on") +
         " ifname=" + (ifs.empty() ? "(all up)" : ifs) +
         " latency_us=" + std::to_string(latency_us);
}

}  // namespace farlink::nccl
