// The "gloo" intra-site adapter: farlink's site-level collectives on Gloo
// (Debian's libgloo-dev) over its TCP transport, bound to the address the
// host gives this rank (init_args.listen_host). Rendezvous goes through the
// host's store (gloo_store.h), so nothing else needs to be running.
//
// Reductions: Gloo's allreduce takes an untyped reduce function, so every
// dtype (fp16/bf16 included, widened to fp32 and rounded to nearest even)
// uses farlink's own kernels — the same rounding as every other adapter.
// Gloo has no reduce-scatter with arbitrary counts in its new-style API, so
// reduce_scatter is a ring over Gloo's unbound buffers (send/recv by slot).
//
// Gloo reports errors by throwing (IoException on a timeout or a lost peer);
// every entry point catches them and returns a status instead.
#include <gloo/allgatherv.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "farlink/coll_adapter.h"
#include "farlink/collective.h"
#include "gloo_store.h"

namespace {

using farlink::DataType;
using farlink::ReduceOp;

constexpr int kStatusTimedOut = 3;  // farlink::StatusCode values
constexpr int kStatusInvalidArgument = 8;
constexpr int kStatusIoError = 9;
// Slot prefix for the reduce-scatter ring; Gloo's own algorithms use 0x01..0x08.
constexpr uint8_t kReduceScatterSlotPrefix = 0x40;

struct SiteComm {
  std::shared_ptr<gloo::rendezvous::Context> context;
  std::chrono::milliseconds timeout{0};
  int local_rank = 0;
  int local_size = 0;
  std::string site;
  uint32_t tag = 0;  // one per operation, the same on every rank (calls are in order)
};

int fail(char* err, size_t err_len, int code, const std::string& msg) {
  std::snprintf(err, err_len, "%s", msg.c_str());
  return code;
}

// Gloo names its timeouts in the message; map them to kTimedOut.
int failFromException(const std::exception& e, const SiteComm& c, const char* what, char* err,
                      size_t err_len) {
  std::string m = e.what();
  int code = m.find("imed out") != std::string::npos || m.find("imeout") != std::string::npos
                 ? kStatusTimedOut
                 : kStatusIoError;
  return fail(err, err_len, code,
              std::string(what) + " (gloo) on local rank " + std::to_string(c.local_rank) +
                  " of site " + c.site + ": " + m);
}

// Gloo's new-style options only need the element size, not the type.
template <typename F>
void withElement(size_t es, F&& f) {
  switch (es) {
    case 1:
      f(uint8_t{});
      break;
    case 2:
      f(uint16_t{});
      break;
    case 4:
      f(uint32_t{});
      break;
    default:
      f(uint64_t{});
      break;
  }
}

bool validType(farlink_coll_dtype dt) { return int(dt) >= 0 && int(dt) < farlink::kDataTypeCount; }

int checkArgs(const SiteComm& c, farlink_coll_dtype dt, int op, const char* what, char* err,
              size_t err_len) {
  if (!validType(dt) || op < 0 || op > 3)
    return fail(err, err_len, kStatusInvalidArgument,
                std::string(what) + " on site " + c.site + ": unknown dtype " +
                    std::to_string(int(dt)) + " or reduce op " + std::to_string(op));
  return 0;
}

int init(const farlink_coll_init_args* a, void** out, char* err, size_t err_len) {
  auto c = std::make_unique<SiteComm>();
  c->timeout = std::chrono::milliseconds(a->timeout_ms);
  c->local_rank = a->local_rank;
  c->local_size = a->local_size;
  c->site = a->site_name;
  try {
    gloo::transport::tcp::attr attr(a->listen_host);
    auto device = gloo::transport::tcp::CreateDevice(attr);
    c->context = std::make_shared<gloo::rendezvous::Context>(a->local_rank, a->local_size);
    c->context->setTimeout(c->timeout);
    farlink::coll::GlooHostStore store(a->store, std::string(a->key_prefix) + "gloo/", c->timeout);
    c->context->connectFullMesh(store, device);
  } catch (const std::exception& e) {
    return fail(err, err_len, kStatusIoError,
                "rank " + std::to_string(a->world_rank) + " (local rank " +
                    std::to_string(a->local_rank) + " of site " + a->site_name +
                    "): gloo could not connect the site on " + a->listen_host + ": " + e.what());
  }
  *out = c.release();
  return 0;
}

void finalize(void* comm) { delete static_cast<SiteComm*>(comm); }

int allreduce(void* comm, const void* send, void* recv, size_t count, farlink_coll_dtype dt,
              farlink_coll_op op, char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  if (int rc = checkArgs(c, dt, int(op), "allreduce", err, err_len); rc) return rc;
  uint32_t tag = c.tag++;
  if (count == 0) return 0;
  auto t = DataType(dt);
  auto rop = ReduceOp(op);
  try {
    gloo::AllreduceOptions opts(c.context);
    withElement(farlink::dataTypeSize(t), [&](auto e) {
      using T = decltype(e);
      if (send != recv) opts.setInput(static_cast<T*>(const_cast<void*>(send)), count);
      opts.setOutput(static_cast<T*>(recv), count);
    });
    // out = a op b; gloo may pass out aliasing either input.
    opts.setReduceFunction([t, rop](void* o, const void* a, const void* b, size_t n) {
      if (o == b) std::swap(a, b);
      if (o != a) std::memcpy(o, a, n * farlink::dataTypeSize(t));
      farlink::reduceInto(t, rop, o, b, n);
    });
    opts.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
    opts.setTag(tag);
    gloo::allreduce(opts);
  } catch (const std::exception& e) {
    return failFromException(e, c, "allreduce", err, err_len);
  }
  return 0;
}

// Ring reduce-scatter with per-rank block counts: at step s rank r sends its
// running sum of block (r-s-1) to the right and adds the left's copy of block
// (r-s-2); after size-1 steps block r is complete. Empty blocks are skipped
// on both sides (every rank knows every count).
int reduceScatter(void* comm, const void* send, void* recv, const size_t* counts,
                  farlink_coll_dtype dt, farlink_coll_op op, char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  if (int rc = checkArgs(c, dt, int(op), "reduce-scatter", err, err_len); rc) return rc;
  uint32_t tag = c.tag++;
  auto t = DataType(dt);
  size_t es = farlink::dataTypeSize(t);
  int n = c.local_size, me = c.local_rank;
  std::vector<size_t> offset(size_t(n) + 1, 0);
  size_t largest = 0;
  for (int j = 0; j < n; ++j) {
    offset[size_t(j) + 1] = offset[size_t(j)] + counts[j];
    largest = std::max(largest, counts[j]);
  }
  std::vector<uint8_t> work(static_cast<const uint8_t*>(send),
                            static_cast<const uint8_t*>(send) + offset[size_t(n)] * es);
  std::vector<uint8_t> incoming(std::max<size_t>(largest * es, 1));
  try {
    auto wbuf = c.context->createUnboundBuffer(work.data(), std::max<size_t>(work.size(), 1));
    auto ibuf = c.context->createUnboundBuffer(incoming.data(), incoming.size());
    int right = (me + 1) % n, left = (me + n - 1) % n;
    gloo::Slot base = gloo::Slot::build(kReduceScatterSlotPrefix, tag);
    for (int s = 0; s + 1 < n; ++s) {
      size_t sb = size_t((me - s - 1 + 2 * n) % n), rb = size_t((me - s - 2 + 2 * n) % n);
      uint64_t slot = base + uint8_t(s % 256);
      if (counts[sb]) wbuf->send(right, slot, offset[sb] * es, counts[sb] * es);
      if (counts[rb]) {
        ibuf->recv(left, slot, 0, counts[rb] * es);
        if (!ibuf->waitRecv(c.timeout))
          return fail(err, err_len, kStatusIoError,
                      "reduce-scatter (gloo) on site " + c.site + ": receive from local rank " +
                          std::to_string(left) + " was aborted");
        farlink::reduceInto(t, ReduceOp(op), work.data() + offset[rb] * es, incoming.data(),
                            counts[rb]);
      }
      if (counts[sb] && !wbuf->waitSend(c.timeout))
        return fail(err, err_len, kStatusIoError,
                    "reduce-scatter (gloo) on site " + c.site + ": send to local rank " +
                        std::to_string(right) + " was aborted");
    }
  } catch (const std::exception& e) {
    return failFromException(e, c, "reduce-scatter", err, err_len);
  }
  std::memcpy(recv, work.data() + offset[size_t(me)] * es, counts[me] * es);
  return 0;
}

int allgather(void* comm, const void* send, void* recv, const size_t* counts, farlink_coll_dtype dt,
              char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  if (int rc = checkArgs(c, dt, 0, "allgather", err, err_len); rc) return rc;
  uint32_t tag = c.tag++;
  size_t es = farlink::dataTypeSize(DataType(dt));
  std::vector<size_t> elements(counts, counts + c.local_size);
  size_t total = 0;
  for (int j = 0; j < c.local_size; ++j) total += counts[j];
  if (total == 0) return 0;
  // Gloo reads the input while writing the output: copy an in-place block.
  std::vector<uint8_t> copy;
  const auto* r = static_cast<const uint8_t*>(recv);
  const auto* s = static_cast<const uint8_t*>(send);
  if (s < r + total * es && s + counts[c.local_rank] * es > r) {
    copy.assign(s, s + counts[c.local_rank] * es);
    s = copy.data();
  }
  try {
    gloo::AllgathervOptions opts(c.context);
    withElement(es, [&](auto e) {
      using T = decltype(e);
      opts.setInput(reinterpret_cast<T*>(const_cast<uint8_t*>(s)), counts[c.local_rank]);
      opts.setOutput(static_cast<T*>(recv), elements);
    });
    opts.setTag(tag);
    gloo::allgatherv(opts);
  } catch (const std::exception& e) {
    return failFromException(e, c, "allgather", err, err_len);
  }
  return 0;
}

int broadcast(void* comm, void* buf, size_t count, farlink_coll_dtype dt, int root, char* err,
              size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  if (int rc = checkArgs(c, dt, 0, "broadcast", err, err_len); rc) return rc;
  if (root < 0 || root >= c.local_size)
    return fail(err, err_len, kStatusInvalidArgument,
                "broadcast on site " + c.site + ": root " + std::to_string(root) +
                    " is not a local rank (0.." + std::to_string(c.local_size - 1) + ")");
  uint32_t tag = c.tag++;
  if (count == 0) return 0;
  try {
    gloo::BroadcastOptions opts(c.context);
    withElement(farlink::dataTypeSize(DataType(dt)), [&](auto e) {
      using T = decltype(e);
      opts.setOutput(static_cast<T*>(buf), count);
    });
    opts.setRoot(root);
    opts.setTag(tag);
    gloo::broadcast(opts);
  } catch (const std::exception& e) {
    return failFromException(e, c, "broadcast", err, err_len);
  }
  return 0;
}

int barrier(void* comm, char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  try {
    gloo::BarrierOptions opts(c.context);
    opts.setTag(c.tag++);
    gloo::barrier(opts);
  } catch (const std::exception& e) {
    return failFromException(e, c, "barrier", err, err_len);
  }
  return 0;
}

const farlink_coll_adapter kAdapter = {
    FARLINK_COLL_ADAPTER_API_VERSION,
    "gloo",
    FARLINK_COLL_CAP_ALL_DTYPES,
    init,
    finalize,
    allreduce,
    reduceScatter,
    allgather,
    broadcast,
    barrier,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const farlink_coll_adapter*
farlink_coll_adapter_v1(void) {
  return &kAdapter;
}
