// Bootstrap: options from a torchrun-style environment, the rendezvous
// through rank 0's store, the site layout, and this site's adapter.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <sstream>

#include "coll/communicator_impl.h"
#include "coll/store_abi.h"
#include "core/unique_fd.h"

namespace farlink {
namespace {

Result<long long> envInt(const char* name, bool required, long long fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    if (required)
      return Status(StatusCode::kInvalidArgument,
                    std::string(name) +
                        " is not set; launch with torchrun-style RANK, "
                        "WORLD_SIZE, MASTER_ADDR and MASTER_PORT, or under OpenMPI's "
                        "mpirun with MASTER_ADDR and MASTER_PORT");
    return fallback;
  }
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v, &end, 10);
  if (errno || *end || end == v)
    return Status(StatusCode::kInvalidArgument,
                  std::string(name) + "='" + v + "' is not an integer");
  return x;
}

// "4194304", "4M", "512K": bytes, binary multiples.
Result<size_t> envBytes(const char* name, const char* v) {
  char* end = nullptr;
  errno = 0;
  unsigned long long x = std::strtoull(v, &end, 10);
  unsigned shift = 0;
  if (end != v && (*end == 'K' || *end == 'k'))
    shift = 10, ++end;
  else if (end != v && (*end == 'M' || *end == 'm'))
    shift = 20, ++end;
  if (errno || *end || end == v || *v == '-' || x > (uint64_t{1} << 40) >> shift)
    return Status(StatusCode::kInvalidArgument,
                  std::string(name) + "='" + v + "' is not a size in bytes (e.g. 4M, 512K, 0)");
  return size_t(x) << shift;
}

// The local address the kernel would use to reach master (no packet is sent:
// connect() on a UDP socket only picks a route).
Result<std::string> routeTo(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
    return Status(StatusCode::kInvalidArgument,
                  "MASTER_ADDR '" + host + "' does not resolve: " + gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);
  UniqueFd fd(::socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid() || ::connect(fd.get(), res->ai_addr, res->ai_addrlen) != 0)
    return Status(StatusCode::kIoError, "no route to MASTER_ADDR '" + host + "'", errno);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return Status(StatusCode::kIoError, "getsockname", errno);
  char buf[INET6_ADDRSTRLEN] = {0};
  const void* a = ss.ss_family == AF_INET6
                      ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr)
                      : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr);
  ::inet_ntop(ss.ss_family, a, buf, sizeof buf);
  return std::string(buf);
}

std::vector<std::string> splitLines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string line; std::getline(ss, line);) out.push_back(line);
  return out;
}

// Rank and world size from torchrun's RANK/WORLD_SIZE, or else from what
// OpenMPI's mpirun gives every process (OMPI_COMM_WORLD_RANK/SIZE). A world
// made of several mpirun jobs (one per site) places each job's ranks at
// FARLINK_RANK_BASE and needs WORLD_SIZE for the whole world.
Status rankFromEnvironment(CommunicatorOptions& o) {
  const bool torchrun = std::getenv("RANK") && *std::getenv("RANK");
  const bool mpi = !torchrun && std::getenv("OMPI_COMM_WORLD_RANK");
  if (!mpi) {
    auto rank = envInt("RANK", true, 0);
    if (!rank) return rank.status();
    auto world = envInt("WORLD_SIZE", true, 0);
    if (!world) return world.status();
    o.rank = int(rank.value());
    o.world_size = int(world.value());
    return Status();
  }
  auto mrank = envInt("OMPI_COMM_WORLD_RANK", true, 0);
  if (!mrank) return mrank.status();
  auto msize = envInt("OMPI_COMM_WORLD_SIZE", true, 0);
  if (!msize) return msize.status();
  auto base = envInt("FARLINK_RANK_BASE", false, 0);
  if (!base) return base.status();
  auto world = envInt("WORLD_SIZE", false, msize.value());
  if (!world) return world.status();
  if (base.value() < 0 || base.value() + msize.value() > world.value())
    return Status(StatusCode::kInvalidArgument,
                  "under mpirun: FARLINK_RANK_BASE " + std::to_string(base.value()) + " + " +
                      std::to_string(msize.value()) + " MPI ranks do not fit in WORLD_SIZE " +
                      std::to_string(world.value()) +
                      "; give each mpirun of a multi-job world its first rank in "
                      "FARLINK_RANK_BASE and the whole world's size in WORLD_SIZE");
  o.rank = int(base.value() + mrank.value());
  o.world_size = int(world.value());
  return Status();
}

}  // namespace

Result<CommunicatorOptions> CommunicatorOptions::fromEnvironment() {
  CommunicatorOptions o;
  if (Status s = rankFromEnvironment(o); !s) return s;
  auto port = envInt("MASTER_PORT", true, 0);
  if (!port) return port.status();
  auto timeout = envInt("FARLINK_COLL_TIMEOUT_MS", false, o.timeout.count());
  if (!timeout) return timeout.status();
  const char* master = std::getenv("MASTER_ADDR");
  if (!master || !*master)
    return Status(StatusCode::kInvalidArgument,
                  "MASTER_ADDR is not set; it names the host where rank 0 serves the rendezvous "
                  "(under mpirun across hosts, forward it with -x MASTER_ADDR)");
  o.master_addr = master;
  if (port.value() <= 0 || port.value() > 65535)
    return Status(StatusCode::kInvalidArgument, "MASTER_PORT must be 1..65535");
  o.master_port = uint16_t(port.value());
  o.timeout = std::chrono::milliseconds(timeout.value());
  if (const char* s = std::getenv("FARLINK_SITE"); s && *s) o.site = s;
  if (const char* s = std::getenv("FARLINK_COLL_HOST"); s && *s) o.listen_host = s;
  if (const char* s = std::getenv("FARLINK_COLL_ADAPTER"); s && *s) o.adapter = s;
  if (const char* s = std::getenv("FARLINK_COLL_PIPELINE_BYTES"); s && *s) {
    auto b = envBytes("FARLINK_COLL_PIPELINE_BYTES", s);
    if (!b) return b.status();
    o.pipeline_bytes = b.value();
  }
  auto lanes = envInt("FARLINK_COLL_LANES", false, o.cross_site_lanes);
  if (!lanes) return lanes.status();
  o.cross_site_lanes = int(lanes.value());
  auto overlap = envInt("FARLINK_COLL_GATHER_OVERLAP", false, o.gather_overlap ? 1 : 0);
  if (!overlap) return overlap.status();
  if (overlap.value() != 0 && overlap.value() != 1)
    return Status(StatusCode::kInvalidArgument, "FARLINK_COLL_GATHER_OVERLAP must be 0 or 1");
  o.gather_overlap = overlap.value() == 1;
  if (const char* s = std::getenv("FARLINK_COLL_ALGO"); s && *s) {
    std::string a = s;
    if (a == "auto")
      o.allreduce_algorithm = CollAlgorithm::kAuto;
    else if (a == "ring")
      o.allreduce_algorithm = CollAlgorithm::kRing;
    else if (a == "hd")
      o.allreduce_algorithm = CollAlgorithm::kHalvingDoubling;
    else if (a == "hierarchical")
      o.allreduce_algorithm = CollAlgorithm::kHierarchical;
    else
      return Status(StatusCode::kInvalidArgument,
                    "FARLINK_COLL_ALGO='" + a + "'; use auto, ring, hd or hierarchical");
  }
  auto ch = ChannelOptions::fromEnvironment();
  if (!ch) return ch.status();
  o.channel = ch.value();
  if (Status s = o.validate(); !s) return s;
  return o;
}

Status CommunicatorOptions::validate() const {
  if (world_size < 1 || world_size > 65536)
    return Status(StatusCode::kInvalidArgument, "WORLD_SIZE must be 1..65536");
  if (rank < 0 || rank >= world_size)
    return Status(StatusCode::kInvalidArgument,
                  "RANK " + std::to_string(rank) + " is outside 0..WORLD_SIZE-1");
  if (master_addr.empty() || master_port == 0)
    return Status(StatusCode::kInvalidArgument, "MASTER_ADDR and MASTER_PORT are required");
  if (site.empty() || site.find('\n') != std::string::npos)
    return Status(StatusCode::kInvalidArgument, "FARLINK_SITE must be a non-empty single line");
  if (timeout.count() <= 0)
    return Status(StatusCode::kInvalidArgument, "the collective timeout must be positive");
  if (cross_site_lanes < 0 || cross_site_lanes > 64)
    return Status(StatusCode::kInvalidArgument,
                  "FARLINK_COLL_LANES (cross-site lanes) must be 0..64, is " +
                      std::to_string(cross_site_lanes));
  return channel.validate();
}

namespace coll {

Status bootstrap(CommunicatorImpl& c) {
  const CommunicatorOptions& o = c.options;
  c.rank = o.rank;
  c.size = o.world_size;
  std::string host = o.listen_host;
  if (host.empty()) {
    auto r = routeTo(o.master_addr, o.master_port);
    if (!r) return r.status();
    host = r.value();
  }
  std::unique_ptr<StoreServer> server;
  if (c.rank == 0) {
    auto s = StoreServer::start(o.master_addr, o.master_port, c.size, o.channel);
    if (!s) return s.status();
    server = std::move(s.value());
  }
  auto mesh = Mesh::listen(host, c.rank, o.channel);
  if (!mesh) return mesh.status();
  c.mesh = std::move(mesh.value());
  auto store = StoreClient::connect(o.master_addr, o.master_port, o.channel, o.timeout);
  if (!store) return store.status();
  StoreClient& st = *store.value();

  if (c.rank == 0) {
    std::random_device rd;
    uint64_t id = (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(::getpid());
    if (Status s = st.set("comm_id", std::to_string(id | 1)); !s) return s;
  }
  std::string me =
      o.site + "\n" + c.mesh->uri() + "\n" + o.adapter + "\n" + std::to_string(c.size) + "\n";
  if (Status s = st.set("rank/" + std::to_string(c.rank), me); !s) return s;
  auto id = st.get("comm_id", o.timeout);
  if (!id) return id.status();

  // The table: every rank's site, address and adapter.
  std::vector<Mesh::Peer> peers;
  std::vector<std::string> adapters;
  std::map<std::string, int> site_ids;
  for (int r = 0; r < c.size; ++r) {
    auto v = st.get("rank/" + std::to_string(r), o.timeout);
    if (!v)
      return Status(v.status().code(),
                    "rank " + std::to_string(r) +
                        " did not register with the rendezvous: " + v.status().toString());
    auto f = splitLines(v.value());
    if (f.size() != 4)
      return Status(StatusCode::kProtocolError,
                    "malformed registration of rank " + std::to_string(r));
    if (f[3] != std::to_string(c.size))
      return Status(StatusCode::kInvalidArgument, "rank " + std::to_string(r) + " has WORLD_SIZE " +
                                                      f[3] + ", rank " + std::to_string(c.rank) +
                                                      " has " + std::to_string(c.size));
    auto [it, fresh] = site_ids.emplace(f[0], int(c.layout.names.size()));
    if (fresh) {
      c.layout.names.push_back(f[0]);
      c.layout.ranks.emplace_back();
    }
    int s = it->second;
    if (!c.layout.ranks[size_t(s)].empty() &&
        adapters[size_t(c.layout.ranks[size_t(s)][0])] != f[2])
      return Status(StatusCode::kInvalidArgument,
                    "site " + f[0] + " mixes adapters: rank " +
                        std::to_string(c.layout.ranks[size_t(s)][0]) + " uses '" +
                        adapters[size_t(c.layout.ranks[size_t(s)][0])] + "', rank " +
                        std::to_string(r) + " uses '" + f[2] + "'; set FARLINK_COLL_ADAPTER alike");
    c.layout.ranks[size_t(s)].push_back(r);
    c.layout.site_of.push_back(s);
    adapters.push_back(f[2]);
    peers.push_back({f[1], "rank " + std::to_string(r) + " (site " + f[0] + ")", 0});
  }
  c.site = c.layout.site_of[size_t(c.rank)];
  for (int r = 0; r < c.size; ++r)
    if (c.layout.site_of[size_t(r)] != c.site) peers[size_t(r)].lanes = o.cross_site_lanes;
  const auto& mine = c.layout.ranks[size_t(c.site)];
  for (size_t j = 0; j < mine.size(); ++j)
    if (mine[j] == c.rank) c.local_rank = int(j);
  c.mesh->start(std::move(peers), std::stoull(id.value()));
  for (int r = 0; r < c.size; ++r) c.world.ranks.push_back(r);
  c.world.me = c.rank;
  for (auto& site_ranks : c.layout.ranks)
    for (int r : site_ranks) {
      if (r == c.rank) c.ring.me = int(c.ring.ranks.size());
      c.ring.ranks.push_back(r);
    }

  // This site's adapter, with its own rendezvous under a per-site prefix.
  auto loaded = loadAdapter(o.adapter);
  if (!loaded)
    return Status(loaded.status().code(), "rank " + std::to_string(c.rank) + " (site " + o.site +
                                              "): " + loaded.status().message());
  farlink_coll_store cstore = adapterStore(st);
  std::string prefix = "adapter/" + id.value() + "/site/" + std::to_string(c.site) + "/";
  farlink_coll_init_args args{};
  args.struct_size = sizeof args;
  args.local_rank = c.local_rank;
  args.local_size = int32_t(mine.size());
  args.site_id = c.site;
  args.site_name = o.site.c_str();
  args.world_rank = c.rank;
  args.world_size = c.size;
  args.key_prefix = prefix.c_str();
  args.listen_host = host.c_str();
  args.timeout_ms = o.timeout.count();
  args.store = &cstore;
  auto adapter = AdapterComm::init(std::move(loaded.value()), args);
  if (!adapter) return adapter.status();
  c.adapter = std::move(adapter.value());

  // Done with the store; rank 0 serves it until everyone has said so.
  st.bye();
  if (server) server->stop(o.timeout);
  return Status();
}

}  // namespace coll
}  // namespace farlink
