// The UCX datapath's wireup message, sent on the bootstrap TCP connection once
// the farlink handshake (with its PSK proof) has passed on it:
//   "FLUX" magic, u16 version (1), u16 lanes, u32 address length, then the
//   sender's UCP worker address (ucp_worker_get_address bytes).
// The client speaks first; the server answers with its own address and the
// same lane count. Both then create one UCP endpoint per lane.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/channel_impl.h"

namespace farlink::ucx {

inline constexpr size_t kWireupFixedSize = 12;
inline constexpr size_t kMaxWorkerAddress = 64 * 1024;

struct Wireup {
  uint16_t lanes = 0;
  std::vector<uint8_t> address;
};

std::string encodeWireup(const Wireup& w);
// Checks magic, version, lane count (1..64) and the address length; on
// success *address_len says how many bytes follow.
Status decodeWireupFixed(const uint8_t* in, Wireup* w, size_t* address_len);

// Sends `mine` and reads the peer's message on the (non-blocking) bootstrap
// socket, both before `deadline`. Errors name the peer.
Status sendWireup(int fd, const Wireup& mine, Deadline deadline, const std::string& peer);
Result<Wireup> receiveWireup(int fd, Deadline deadline, const std::string& peer);

}  // namespace farlink::ucx
