// Receiver side of a channel, independent of the datapath: matches incoming
// messages to posted receives (per-tag send order), buffers unexpected ones
// within a byte budget, checks every chunk against the sender's declared
// chunking (each byte once), and completes requests.
// Not thread-safe: the owning channel serialises access.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/request_state.h"
#include "core/wire.h"

namespace farlink {

struct InMessage {
  uint64_t seq = 0;
  uint64_t tag = 0;
  uint64_t total = 0;
  uint64_t received = 0;
  std::shared_ptr<RequestState> req;  // null while unexpected or discarded
  std::unique_ptr<uint8_t[]> buffer;  // unexpected payload
  uint8_t* dest = nullptr;            // where chunk payload goes; null: discard
  bool discard = false;               // matched a too-small receive

  // One bit per chunk: the first 64 inline (most messages are one chunk,
  // and a heap block per message showed in a ping-pong's profile).
  void resetSeen(uint64_t chunks) {
    seen0 = 0;
    seen_more.assign(chunks > 64 ? (chunks - 64 + 63) / 64 : 0, 0);
  }
  uint64_t& seenWord(uint64_t idx) { return idx < 64 ? seen0 : seen_more[idx / 64 - 1]; }
  uint64_t seen0 = 0;
  std::vector<uint64_t> seen_more;
};

class ReceiveMatcher {
 public:
  ReceiveMatcher(std::string peer, uint32_t peer_chunk, size_t max_unexpected);

  enum class Action { kDeliver, kStall, kError };
  struct Route {
    Action action = Action::kStall;
    InMessage* msg = nullptr;  // kDeliver
    uint8_t* dest = nullptr;   // kDeliver; null = read and drop the payload
    Status error;              // kError
    static Route stall() { return Route{}; }
    static Route deliver(InMessage* m, uint8_t* d) { return Route{Action::kDeliver, m, d, Status()}; }
  };
  // Decides where a DATA chunk's payload goes. kStall: come back after the
  // next post() or announcement (an earlier message is not known yet, or the
  // unexpected budget is spent); the transport stops reading that lane.
  Route route(const wire::FrameHeader& h);
  // The common small message, for datapaths that hold a frame's payload in
  // memory on arrival: when `h` is the next message, whole in this one
  // chunk, and the oldest posted receive takes it, copies `payload` there
  // and completes that receive at once (no open-message entry, no second
  // pass). Returns false, having changed nothing, otherwise: route() it.
  bool placeWhole(const wire::FrameHeader& h, const uint8_t* payload);
  // The payload of a routed chunk has fully arrived.
  void chunkDone(InMessage* m, uint32_t len);
  // A routed chunk's payload will not finish (its connection broke; session
  // resume sends it again): route() may place it once more.
  void unroute(InMessage* m, const wire::FrameHeader& h);

  // Posts a receive; it may complete at once from buffered data.
  void post(std::shared_ptr<RequestState> req);
  // Removes a posted receive that no message matched yet and completes it
  // with `why`; false if it already matched (bytes may be arriving).
  bool withdraw(const RequestState& req, const Status& why);
  // The peer will send nothing more: pending and future unmatched receives
  // fail with `why`.
  void setPeerGone(Status why);
  void failAll(const Status& why);

  // Bumped whenever a stalled route might now succeed.
  uint64_t generation() const { return generation_; }
  // Messages of which at least one chunk arrived (sequence numbers below this).
  uint64_t announced() const { return next_announce_; }
  size_t unexpectedBytes() const { return unexpected_bytes_; }
  uint64_t messagesReceived() const { return messages_received_; }
  uint64_t messagesStaged() const { return messages_staged_; }
  uint64_t bytesStaged() const { return bytes_staged_; }
  uint64_t bytesReceived() const { return bytes_received_; }

 private:
  Route announce(const wire::FrameHeader& h);
  void deliver(InMessage* m);
  bool claimUnexpected(const std::shared_ptr<RequestState>& req);
  Status tooBig(const InMessage& m, size_t capacity) const;
  Route fail(std::string what);

  std::string peer_;
  uint32_t peer_chunk_;
  size_t max_unexpected_;
  size_t unexpected_bytes_ = 0;
  uint64_t next_announce_ = 0;  // lowest sequence not seen yet
  uint64_t generation_ = 0;
  uint64_t messages_received_ = 0;
  uint64_t messages_staged_ = 0;
  uint64_t bytes_staged_ = 0;
  uint64_t bytes_received_ = 0;
  using OpenMap = std::unordered_map<uint64_t, InMessage>;
  OpenMap open_;  // announced, not yet delivered
  // Nodes of delivered messages, cleared, for the next announce (a heap
  // block per message showed in a ping-pong's profile).
  static constexpr size_t kSpareNodes = 8;
  std::vector<OpenMap::node_type> spare_nodes_;
  std::deque<uint64_t> unexpected_;               // unclaimed, in sequence order
  std::deque<std::shared_ptr<RequestState>> posted_;  // unmatched, in post order
  Status peer_gone_;  // OK while the peer may still send
};

}  // namespace farlink
