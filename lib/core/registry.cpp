// Scheme → datapath map. The list of built datapaths comes from meson
// (transports.inc), so core code has no #ifdef per backend.
#include <vector>

#include "core/channel_impl.h"
#include "core/wire.h"

namespace farlink {

#define FARLINK_TRANSPORT(name) TransportFactory name##Transport();
#include "transports.inc"
#undef FARLINK_TRANSPORT

namespace {

const std::vector<TransportFactory>& table() {
  static const std::vector<TransportFactory> t = [] {
    std::vector<TransportFactory> v;
#define FARLINK_TRANSPORT(name) v.push_back(name##Transport());
#include "transports.inc"
#undef FARLINK_TRANSPORT
    return v;
  }();
  return t;
}

}  // namespace

const TransportFactory* findTransport(const std::string& scheme) {
  for (const auto& f : table())
    if (f.scheme == scheme) return &f;
  return nullptr;
}

Result<std::shared_ptr<ChannelImpl>> adoptSession(LaneSession session) {
  const uint32_t wanted = session.capabilities & ~wire::kSessionCaps;
  for (const auto& f : table())
    if (f.adopt && f.hello_capability == wanted) return f.adopt(std::move(session));
  return Status(StatusCode::kNotSupported,
                "peer " + session.peer + " asked for a datapath this build lacks (HELLO capabilities " +
                    std::to_string(session.capabilities) + ")");
}

std::vector<std::string> registeredTransports() {
  std::vector<std::string> names;
  for (const auto& f : table()) names.push_back(f.scheme);
  return names;
}

}  // namespace farlink
