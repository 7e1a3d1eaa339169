// Public Channel / Listener / Request: thin handles over the datapath that
// the URI's scheme selects.
#include "farlink/channel.h"

#include <atomic>

#include "core/channel_impl.h"
#include "core/request_state.h"

namespace farlink {

namespace detail {
// Bumped by the auto:// transport (lib/transport/verbs) on each fallback.
std::atomic<uint64_t> auto_fallbacks{0};
}  // namespace detail

uint64_t autoFallbackCount() { return detail::auto_fallbacks.load(std::memory_order_relaxed); }
namespace {

// Schemes reserved for datapaths that later issues add.
bool isReservedScheme(const std::string& s) {
  return s == "verbs" || s == "ucx" || s == "auto" || s == "dpdk";
}

Result<const TransportFactory*> transportFor(const Uri& uri, std::string_view text) {
  if (const TransportFactory* f = findTransport(uri.scheme)) return f;
  std::string known;
  for (const auto& n : registeredTransports()) known += (known.empty() ? "" : ", ") + n + "://";
  if (isReservedScheme(uri.scheme))
    return Status(StatusCode::kNotSupported,
                  "'" + std::string(text) + "': the " + uri.scheme +
                      " datapath is not available in this build; use one of: " + known);
  return Status(StatusCode::kInvalidArgument,
                "'" + std::string(text) + "': unknown scheme '" + uri.scheme +
                    "'; use one of: " + known);
}

// What the key itself says can be refused here, before any byte moves.
Status checkRemoteRange(const RemoteKey& key, size_t size, uint64_t offset, uint32_t need,
                        const char* op) {
  if (key.id == 0) return Status(StatusCode::kInvalidArgument, std::string(op) + ": empty RemoteKey");
  if ((key.access & need) == 0)
    return Status(StatusCode::kInvalidArgument,
                  std::string(op) + ": the RemoteKey does not grant remote " + op + " access");
  if (offset > key.length || size > key.length - offset)
    return Status(StatusCode::kInvalidArgument,
                  std::string(op) + ": range [" + std::to_string(offset) + ", +" +
                      std::to_string(size) + ") lies outside the " + std::to_string(key.length) +
                      "-byte region");
  return Status();
}

// Parses the address, checks the options and picks the datapath.
struct Target {
  Uri uri;
  const TransportFactory* factory;
};
Result<Target> targetFor(std::string_view text, const ChannelOptions& options) {
  auto uri = parseUri(text);
  if (!uri) return uri.status();
  if (Status s = options.validate(); !s) return s;
  // Only TCP lanes carry TLS; auto:// keeps to them itself when it is required.
  if (options.tls == TlsMode::kRequired && (uri->scheme == "verbs" || uri->scheme == "ucx"))
    return Status(StatusCode::kNotSupported,
                  "'" + std::string(text) + "': FARLINK_TLS=required, and " + uri->scheme +
                      ":// channels are not encrypted; use tcp:// (or auto://, which then "
                      "picks TCP), or FARLINK_TLS=on");
  auto f = transportFor(*uri, text);
  if (!f) return f.status();
  return Target{std::move(uri.value()), f.value()};
}

Status cancelledNoChannel() {
  return Status(StatusCode::kCancelled, "the channel of this request was destroyed");
}

}  // namespace

Deadline deadlineAfter(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) return Deadline::max();
  return Clock::now() + timeout;
}

// ---- Request ----

Request::Request(std::shared_ptr<RequestState> state) : state_(std::move(state)) {}

bool Request::test() {
  if (!state_) return true;
  if (state_->done()) return true;
  if (auto ch = state_->channel()) (void)ch->progress(Clock::now());
  return state_->done();
}

Status Request::wait(std::chrono::milliseconds timeout) {
  if (!state_) return Status(StatusCode::kInvalidArgument, "wait on an empty Request");
  if (state_->done()) return state_->status();
  auto ch = state_->channel();
  if (!ch) return state_->done() ? state_->status() : cancelledNoChannel();
  return ch->wait(*state_, deadlineAfter(timeout));
}

bool Request::done() const { return !state_ || state_->done(); }
Status Request::status() const {
  if (!state_) return Status(StatusCode::kInvalidArgument, "empty Request");
  if (!state_->done()) return Status(StatusCode::kInProgress, "request not finished");
  return state_->status();
}
size_t Request::bytes() const { return state_ && state_->done() ? state_->bytes() : 0; }
uint64_t Request::tag() const {
  if (!state_) return 0;
  return state_->done() ? state_->matchedTag() : state_->postedTag();
}

// ---- Channel ----

Channel::Channel(std::unique_ptr<ChannelImpl> impl) : impl_(std::move(impl)) {}
Channel::Channel(std::shared_ptr<ChannelImpl> impl) : impl_(std::move(impl)) {}
Channel::~Channel() = default;

Result<std::unique_ptr<Channel>> Channel::connect(std::string_view text,
                                                  const ChannelOptions& options) {
  auto t = targetFor(text, options);
  if (!t) return t.status();
  auto impl = t->factory->connect(t->uri, options);
  if (!impl) return impl.status();
  return std::make_unique<Channel>(std::move(impl.value()));
}

Result<Request> Channel::isend(const void* data, size_t size, uint64_t tag) {
  return impl_->isend(data, size, tag);
}
Result<Request> Channel::irecv(void* data, size_t capacity, uint64_t tag) {
  return impl_->irecv(data, capacity, tag);
}

Result<Request> Channel::iwrite(const void* local, size_t size, const RemoteKey& key,
                                uint64_t offset) {
  if (Status s = checkRemoteRange(key, size, offset, kRemoteWrite, "write"); !s) return s;
  if (local == nullptr && size > 0) return Status(StatusCode::kInvalidArgument, "write: null buffer");
  return impl_->iwrite(local, size, key, offset);
}
Result<Request> Channel::iread(void* local, size_t size, const RemoteKey& key, uint64_t offset) {
  if (Status s = checkRemoteRange(key, size, offset, kRemoteRead, "read"); !s) return s;
  if (local == nullptr && size > 0) return Status(StatusCode::kInvalidArgument, "read: null buffer");
  return impl_->iread(local, size, key, offset);
}
Status Channel::write(const void* local, size_t size, const RemoteKey& key, uint64_t offset,
                      std::chrono::milliseconds timeout) {
  auto r = iwrite(local, size, key, offset);
  return r ? r->wait(timeout) : r.status();
}
Status Channel::read(void* local, size_t size, const RemoteKey& key, uint64_t offset,
                     std::chrono::milliseconds timeout) {
  auto r = iread(local, size, key, offset);
  return r ? r->wait(timeout) : r.status();
}

Status Channel::send(const void* data, size_t size, uint64_t tag,
                     std::chrono::milliseconds timeout) {
  auto r = isend(data, size, tag);
  if (!r) return r.status();
  Status s = r->wait(timeout);
  if (s.code() == StatusCode::kTimedOut && !r->done()) {
    impl_->abandon(*r->state_, s);
    if (r->done() && r->status().isOk()) return Status();
  }
  return s;
}

Result<size_t> Channel::recv(void* data, size_t capacity, uint64_t tag,
                             std::chrono::milliseconds timeout) {
  auto r = irecv(data, capacity, tag);
  if (!r) return r.status();
  Status s = r->wait(timeout);
  if (s.code() == StatusCode::kTimedOut && !r->done()) {
    impl_->abandon(*r->state_, s);
    if (r->done() && r->status().isOk()) return r->bytes();  // finished meanwhile
    return s;
  }
  if (!s) return s;
  return r->bytes();
}

Status Channel::progress(std::chrono::milliseconds timeout) {
  return impl_->progress(deadlineAfter(timeout));
}
Status Channel::flush(std::chrono::milliseconds timeout) {
  return impl_->flush(deadlineAfter(timeout));
}
Status Channel::close(std::chrono::milliseconds timeout) {
  return impl_->close(deadlineAfter(timeout));
}
ChannelStats Channel::stats() const { return impl_->stats(); }
std::string Channel::peer() const { return impl_->peer(); }

// ---- Listener ----

Listener::Listener(std::unique_ptr<ListenerImpl> impl) : impl_(std::move(impl)) {}
Listener::~Listener() = default;

Result<std::unique_ptr<Listener>> Listener::listen(std::string_view text,
                                                   const ChannelOptions& options) {
  auto t = targetFor(text, options);
  if (!t) return t.status();
  auto impl = t->factory->listen(t->uri, options);
  if (!impl) return impl.status();
  return std::make_unique<Listener>(std::move(impl.value()));
}

Result<std::unique_ptr<Channel>> Listener::accept(std::chrono::milliseconds timeout) {
  auto ch = impl_->accept(deadlineAfter(timeout));
  if (!ch) return ch.status();
  return std::make_unique<Channel>(std::move(ch.value()));
}

uint16_t Listener::port() const { return impl_->port(); }
std::string Listener::uri() const { return impl_->uri(); }
std::vector<Status> Listener::rejections() { return impl_->rejections(); }

}  // namespace farlink
