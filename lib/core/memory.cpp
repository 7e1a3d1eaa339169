#include <openssl/rand.h>

#include <mutex>
#include <random>
#include <unordered_map>

#include "core/byte_order.h"
#include "core/region_table.h"

namespace farlink {
namespace {

struct Table {
  std::mutex mu;
  std::unordered_map<uint64_t, std::shared_ptr<MemoryRegionImpl>> regions;
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

const char* rmaVerdictText(RmaVerdict v) {
  switch (v) {
    case RmaVerdict::kOk: return "ok";
    case RmaVerdict::kUnknownRegion: return "no such registered region (deregistered or wrong key)";
    case RmaVerdict::kDenied: return "the region does not allow this access";
    case RmaVerdict::kOutOfBounds: return "the range lies outside the region";
  }
  return "unknown verdict";
}

RmaVerdict checkRegionAccess(uint64_t id, uint64_t offset, uint64_t len, uint32_t access,
                             uint8_t** where) {
  Table& t = table();
  std::lock_guard lk(t.mu);
  auto it = t.regions.find(id);
  if (it == t.regions.end()) return RmaVerdict::kUnknownRegion;
  const MemoryRegionImpl& r = *it->second;
  if ((r.access & access) != access) return RmaVerdict::kDenied;
  if (offset > r.size || len > r.size - offset) return RmaVerdict::kOutOfBounds;
  *where = r.data + offset;
  return RmaVerdict::kOk;
}

std::array<uint8_t, RemoteKey::kSerializedSize> RemoteKey::serialize() const {
  std::array<uint8_t, kSerializedSize> b{};
  put64(b.data(), id);
  put64(b.data() + 8, length);
  put32(b.data() + 16, access);
  return b;
}

Result<RemoteKey> RemoteKey::deserialize(const void* bytes, size_t size) {
  if (size != kSerializedSize)
    return Status(StatusCode::kInvalidArgument,
                  "a serialised RemoteKey has 24 bytes, got " + std::to_string(size));
  auto* p = static_cast<const uint8_t*>(bytes);
  RemoteKey k;
  k.id = get64(p);
  k.length = get64(p + 8);
  k.access = get32(p + 16);
  if (k.id == 0 || (k.access & ~uint32_t{kRemoteRead | kRemoteWrite}) != 0 || get32(p + 20) != 0)
    return Status(StatusCode::kInvalidArgument, "bytes are not a valid RemoteKey");
  return k;
}

MemoryRegion::MemoryRegion(std::shared_ptr<MemoryRegionImpl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<MemoryRegion>> MemoryRegion::create(void* data, size_t size,
                                                           uint32_t access) {
  if (data == nullptr && size > 0)
    return Status(StatusCode::kInvalidArgument, "MemoryRegion::create: null data with size > 0");
  if ((access & ~uint32_t{kRemoteRead | kRemoteWrite}) != 0)
    return Status(StatusCode::kInvalidArgument, "MemoryRegion::create: unknown access bits");
  auto impl = std::make_shared<MemoryRegionImpl>();
  impl->data = static_cast<uint8_t*>(data);
  impl->size = size;
  impl->access = access;
  Table& t = table();
  std::lock_guard lk(t.mu);
  // Unpredictable ids: a key is the only capability a peer needs.
  do {
    uint8_t b[8];
    if (RAND_bytes(b, sizeof b) != 1) {
      std::random_device rd;
      for (auto& x : b) x = static_cast<uint8_t>(rd());
    }
    impl->id = get64(b);
  } while (impl->id == 0 || t.regions.count(impl->id) != 0);
  t.regions.emplace(impl->id, impl);
  return std::make_unique<MemoryRegion>(std::move(impl));
}

MemoryRegion::~MemoryRegion() {
  Table& t = table();
  std::lock_guard lk(t.mu);
  t.regions.erase(impl_->id);
}

void* MemoryRegion::data() const { return impl_->data; }
size_t MemoryRegion::size() const { return impl_->size; }
RemoteKey MemoryRegion::remoteKey() const { return RemoteKey{impl_->id, impl_->size, impl_->access}; }

}  // namespace farlink
