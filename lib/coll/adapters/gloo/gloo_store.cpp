#include "gloo_store.h"

#include <stdexcept>

namespace farlink::coll {
namespace {
// The host store's limit on one value (coll/store.h kMaxStoreValue).
constexpr size_t kMaxValue = size_t{1} << 20;
}  // namespace

GlooHostStore::GlooHostStore(const farlink_coll_store* store, std::string prefix,
                             std::chrono::milliseconds timeout)
    : store_(store), prefix_(std::move(prefix)), timeout_(timeout) {}

void GlooHostStore::set(const std::string& key, const std::vector<char>& data) {
  char err[512] = {0};
  std::string k = prefix_ + key;
  if (store_->set(store_->ctx, k.c_str(), data.data(), data.size(), err, sizeof err) != 0)
    throw std::runtime_error("gloo rendezvous: storing '" + k + "' failed: " + err);
}

std::vector<char> GlooHostStore::fetch(const std::string& key, std::chrono::milliseconds timeout) {
  char err[512] = {0};
  std::string k = prefix_ + key;
  std::vector<char> value(kMaxValue);
  size_t n = 0;
  if (store_->get(store_->ctx, k.c_str(), value.data(), value.size(), &n, timeout.count(), err,
                  sizeof err) != 0)
    throw std::runtime_error("gloo rendezvous: waiting for '" + k + "' failed: " + err +
                             " (did every rank of the site start with FARLINK_COLL_ADAPTER=gloo?)");
  value.resize(n);
  return value;
}

std::vector<char> GlooHostStore::get(const std::string& key) { return fetch(key, timeout_); }

void GlooHostStore::wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }

void GlooHostStore::wait(const std::vector<std::string>& keys,
                         const std::chrono::milliseconds& timeout) {
  // The host store has no separate wait: a blocking get is one.
  for (const auto& k : keys) fetch(k, timeout);
}

}  // namespace farlink::coll
