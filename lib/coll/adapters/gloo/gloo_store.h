// gloo's rendezvous Store on top of the host's key-value store (the
// farlink_coll_store callbacks of coll_adapter.h, served by world rank 0), so
// a gloo site needs no store of its own. Keys go under the adapter's
// key_prefix. Errors are thrown as std::runtime_error (gloo's Store has no
// other way to fail); the adapter catches them at its C boundary.
#pragma once

#include <gloo/rendezvous/store.h>

#include <chrono>
#include <string>
#include <vector>

#include "farlink/coll_adapter.h"

namespace farlink::coll {

class GlooHostStore : public gloo::rendezvous::Store {
 public:
  // `store` must outlive this object (it does: gloo only uses it in init).
  GlooHostStore(const farlink_coll_store* store, std::string prefix,
                std::chrono::milliseconds timeout);

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

 private:
  std::vector<char> fetch(const std::string& key, std::chrono::milliseconds timeout);
  const farlink_coll_store* store_;
  std::string prefix_;
  std::chrono::milliseconds timeout_;
};

}  // namespace farlink::coll
