// The rendezvous store: a key-value table served by world rank 0 over
// farlink channels (one per rank, kept open while the communicator is set
// up). Ranks register their listener address and site under "rank/<r>" and
// read everyone else's; adapters use it for their own rendezvous.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "farlink/channel.h"

namespace farlink::coll {

inline constexpr size_t kMaxStoreValue = size_t{1} << 20;

// Runs in its own thread until stop() (or destruction). Not copyable.
class StoreServer {
 public:
  // Listens on tcp://host:port; `clients` ranks are expected to connect.
  static Result<std::unique_ptr<StoreServer>> start(const std::string& host, uint16_t port,
                                                    int clients, const ChannelOptions& options);
  ~StoreServer();
  // Waits up to `grace` for every client to say goodbye, then stops serving.
  void stop(std::chrono::milliseconds grace);

  StoreServer(std::unique_ptr<Listener> listener, int clients);

 private:
  void run();
  std::unique_ptr<Listener> listener_;
  int clients_;
  std::atomic<bool> stop_{false};
  std::atomic<int> goodbyes_{0};
  std::thread thread_;
};

// One rank's connection to the store. Thread-safe (calls are serialised).
class StoreClient {
 public:
  // Retries until rank 0's server answers or `timeout` passes.
  static Result<std::unique_ptr<StoreClient>> connect(const std::string& host, uint16_t port,
                                                      const ChannelOptions& options,
                                                      std::chrono::milliseconds timeout);
  Status set(const std::string& key, const std::string& value);
  // Blocks until the key exists (kTimedOut after `timeout`).
  Result<std::string> get(const std::string& key, std::chrono::milliseconds timeout);
  // Tells the server this rank needs the store no more; closes the channel.
  void bye();

  explicit StoreClient(std::unique_ptr<Channel> ch, std::string where);

 private:
  Result<std::string> call(uint8_t op, const std::string& key, const std::string& value,
                           std::chrono::milliseconds timeout);
  std::mutex mu_;
  std::unique_ptr<Channel> ch_;
  std::string where_;
};

}  // namespace farlink::coll
