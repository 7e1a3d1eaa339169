// What every datapath implements behind farlink::Channel and
// farlink::Listener, and the registry that maps URI schemes to datapaths.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/lane_session.h"
#include "core/uri.h"
#include "farlink/channel.h"

namespace farlink {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// kForever → time_point::max(); otherwise now + timeout.
Deadline deadlineAfter(std::chrono::milliseconds timeout);

class ChannelImpl : public std::enable_shared_from_this<ChannelImpl> {
 public:
  virtual ~ChannelImpl() = default;
  virtual Result<Request> isend(const void* data, size_t size, uint64_t tag) = 0;
  virtual Result<Request> irecv(void* data, size_t capacity, uint64_t tag) = 0;
  virtual Result<Request> iwrite(const void* local, size_t size, const RemoteKey& key,
                                 uint64_t offset) = 0;
  virtual Result<Request> iread(void* local, size_t size, const RemoteKey& key,
                                uint64_t offset) = 0;
  // Drives I/O until `req` is done or the deadline passes (kTimedOut).
  virtual Status wait(RequestState& req, Deadline deadline) = 0;
  // Drives I/O once; blocks up to the deadline only if nothing is ready.
  virtual Status progress(Deadline deadline) = 0;
  // The caller gives up on `req` (a blocking call timed out): withdraw it
  // if no byte moved yet, else fail the channel with `why`. Returns once the
  // library no longer touches the request's buffer.
  virtual void abandon(RequestState& req, const Status& why) = 0;
  virtual Status flush(Deadline deadline) = 0;
  virtual Status close(Deadline deadline) = 0;
  virtual ChannelStats stats() const = 0;
  virtual std::string peer() const = 0;
};

class ListenerImpl {
 public:
  virtual ~ListenerImpl() = default;
  virtual Result<std::shared_ptr<ChannelImpl>> accept(Deadline deadline) = 0;
  virtual uint16_t port() const = 0;
  virtual std::string uri() const = 0;
  virtual std::vector<Status> rejections() = 0;
};

// Each built datapath provides `TransportFactory <name>Transport()`; meson
// lists the built ones in transports.inc (one line per datapath).
// Turns a session from farlink's TCP handshake into a channel. Runs inside
// Listener::accept, so it must finish within the session's own deadline.
using SessionToChannel = std::function<Result<std::shared_ptr<ChannelImpl>>(LaneSession)>;

struct TransportFactory {
  std::string scheme;
  std::function<Result<std::shared_ptr<ChannelImpl>>(const Uri&, const ChannelOptions&)> connect;
  std::function<Result<std::unique_ptr<ListenerImpl>>(const Uri&, const ChannelOptions&)> listen;
  // Capability query for auto://: empty when this datapath can serve `uri`
  // here, else why not. Unset: always (the TCP fallback).
  std::function<std::string(const Uri&, const ChannelOptions&)> unusable;
  // What this datapath finds on this host, for farlink probe (UCX: its
  // transport resources, e.g. "tcp/eth0", "rc_mlx5/mlx5_0:1"). Unset: nothing to say.
  std::function<Result<std::vector<std::string>>()> resources;
  // Datapaths whose connections start with farlink's TCP handshake: the
  // HELLO capability bit that marks them (0 for TCP lanes) and how a
  // listener turns such a session into a channel. Unset adopt: none.
  uint32_t hello_capability = 0;
  SessionToChannel adopt;
};

const TransportFactory* findTransport(const std::string& scheme);
// Hands a handshake session to the built datapath its HELLO capabilities
// name (TCP lanes when none); an error naming the peer when none is built.
Result<std::shared_ptr<ChannelImpl>> adoptSession(LaneSession session);
std::vector<std::string> registeredTransports();

// Splits ChannelOptions::auto_order ("verbs,ucx,tcp") into names, checking
// each (out may be null to only check).
Status parseAutoOrder(const std::string& text, std::vector<std::string>* out);

}  // namespace farlink
