// RDMA devices (libibverbs) and routes (librdmacm) for farlink probe.
#include <arpa/inet.h>
#include <infiniband/verbs.h>
#include <netdb.h>
#include <poll.h>
#include <rdma/rdma_cma.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "probe/rdma.h"

namespace farlink::probe {
namespace {

struct DeviceListDeleter {
  void operator()(ibv_device** l) const noexcept { ibv_free_device_list(l); }
};
struct ContextDeleter {
  void operator()(ibv_context* c) const noexcept { (void)ibv_close_device(c); }
};
struct EventChannelDeleter {
  void operator()(rdma_event_channel* c) const noexcept { rdma_destroy_event_channel(c); }
};
struct CmIdDeleter {
  void operator()(rdma_cm_id* id) const noexcept { (void)rdma_destroy_id(id); }
};
struct AddrInfoDeleter {
  void operator()(addrinfo* a) const noexcept { freeaddrinfo(a); }
};

std::string portState(ibv_port_state s) {
  switch (s) {
    case IBV_PORT_NOP: return "NOP";
    case IBV_PORT_DOWN: return "DOWN";
    case IBV_PORT_INIT: return "INIT";
    case IBV_PORT_ARMED: return "ARMED";
    case IBV_PORT_ACTIVE: return "ACTIVE";
    case IBV_PORT_ACTIVE_DEFER: return "ACTIVE_DEFER";
  }
  return "unknown (" + std::to_string(static_cast<int>(s)) + ")";
}

int mtuBytes(ibv_mtu m) {
  switch (m) {
    case IBV_MTU_256: return 256;
    case IBV_MTU_512: return 512;
    case IBV_MTU_1024: return 1024;
    case IBV_MTU_2048: return 2048;
    case IBV_MTU_4096: return 4096;
  }
  return 0;
}

std::string linkLayer(uint8_t l) {
  switch (l) {
    case IBV_LINK_LAYER_INFINIBAND: return "InfiniBand";
    case IBV_LINK_LAYER_ETHERNET: return "Ethernet";
    default: return "unspecified";
  }
}

// active_width is a bit mask of the IB spec's lane counts.
int widthLanes(uint8_t w) {
  switch (w) {
    case 1: return 1;
    case 2: return 4;
    case 4: return 8;
    case 8: return 12;
    case 16: return 2;
    default: return 0;
  }
}

// Name and data rate per lane in Gb/s (after encoding) of active_speed.
void laneSpeed(uint8_t s, std::string* name, double* gbps) {
  struct Entry {
    uint8_t code;
    const char* name;
    double gbps;
  };
  static constexpr Entry kSpeeds[] = {
      {1, "SDR", 2.0},   {2, "DDR", 4.0},    {4, "QDR", 8.0},    {8, "FDR10", 10.0},
      {16, "FDR", 13.64}, {32, "EDR", 25.0}, {64, "HDR", 50.0}, {128, "NDR", 100.0},
  };
  for (const Entry& e : kSpeeds) {
    if (e.code == s) {
      *name = e.name;
      *gbps = e.gbps;
      return;
    }
  }
  *name = "unknown (" + std::to_string(s) + ")";
  *gbps = 0;
}

std::string readLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

Gid describeGid(const ibv_gid& raw, int index, const std::string& attrs) {
  Gid g;
  g.index = index;
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, raw.raw, text, sizeof text);
  g.gid = text;
  // RoCE GIDs built from an IPv4 address are IPv4-mapped: ::ffff:a.b.c.d.
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  g.family = std::memcmp(raw.raw, kMapped, sizeof kMapped) == 0 ? "ipv4" : "ipv6";
  // Unreadable on kernels or devices without gid_attrs (old IB-only stacks).
  g.type = readLine(attrs + "/types/" + std::to_string(index));
  g.ndev = readLine(attrs + "/ndevs/" + std::to_string(index));
  return g;
}

Result<RdmaPort> describePort(ibv_context* ctx, const std::string& dev, int port,
                              const std::string& sysfs_root) {
  ibv_port_attr pa{};
  if (int rc = ibv_query_port(ctx, static_cast<uint8_t>(port), &pa); rc != 0)
    return Status(StatusCode::kIoError,
                  "ibv_query_port " + dev + " port " + std::to_string(port) + " failed", rc);
  RdmaPort p;
  p.port = port;
  p.state = portState(pa.state);
  p.active_mtu = mtuBytes(pa.active_mtu);
  p.max_mtu = mtuBytes(pa.max_mtu);
  p.link_layer = linkLayer(pa.link_layer);
  const int lanes = widthLanes(pa.active_width);
  p.width = lanes ? std::to_string(lanes) + "x" : "unknown";
  double per_lane = 0;
  laneSpeed(pa.active_speed, &p.speed, &per_lane);
  p.gbps = lanes * per_lane;
  const std::string attrs =
      sysfs_root + "/" + dev + "/ports/" + std::to_string(port) + "/gid_attrs";
  for (int i = 0; i < pa.gid_tbl_len; ++i) {
    ibv_gid gid{};
    // Unpopulated entries fail or read as all zeros; neither is worth listing.
    if (ibv_query_gid(ctx, static_cast<uint8_t>(port), i, &gid) != 0) continue;
    if (gid.global.subnet_prefix == 0 && gid.global.interface_id == 0) continue;
    p.gids.push_back(describeGid(gid, i, attrs));
  }
  return p;
}

Result<RdmaDevice> describeDevice(ibv_device* d, const std::string& sysfs_root) {
  RdmaDevice out;
  out.name = ibv_get_device_name(d);
  std::unique_ptr<ibv_context, ContextDeleter> ctx(ibv_open_device(d));
  if (!ctx)
    return Status(StatusCode::kIoError,
                  "cannot open RDMA device " + out.name +
                      " (check /dev/infiniband permissions and that ib_uverbs is loaded)",
                  errno);
  ibv_device_attr a{};
  if (int rc = ibv_query_device(ctx.get(), &a); rc != 0)
    return Status(StatusCode::kIoError, "ibv_query_device " + out.name + " failed", rc);
  out.fw_ver = a.fw_ver;
  const uint64_t guid = be64toh(a.node_guid);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04x:%04x:%04x:%04x", static_cast<unsigned>(guid >> 48),
                static_cast<unsigned>((guid >> 32) & 0xffff),
                static_cast<unsigned>((guid >> 16) & 0xffff), static_cast<unsigned>(guid & 0xffff));
  out.node_guid = buf;
  out.vendor_id = a.vendor_id;
  out.vendor_part_id = a.vendor_part_id;
  out.max_qp = a.max_qp;
  out.max_qp_wr = a.max_qp_wr;
  out.max_mr_size = a.max_mr_size;
  for (int port = 1; port <= a.phys_port_cnt; ++port) {
    Result<RdmaPort> p = describePort(ctx.get(), out.name, port, sysfs_root);
    if (!p) return p.status();
    out.ports.push_back(std::move(*p));
  }
  return out;
}

}  // namespace

bool rdmaCoreBuilt() { return true; }

Result<std::vector<RdmaDevice>> listRdmaDevices(const std::string& sysfs_root) {
  int n = 0;
  std::unique_ptr<ibv_device*, DeviceListDeleter> list(ibv_get_device_list(&n));
  std::vector<RdmaDevice> out;
  // ENOSYS: no kernel RDMA support at all, which is just "no devices".
  if (!list) {
    if (errno == ENOSYS) return out;
    return Status(StatusCode::kIoError, "ibv_get_device_list failed", errno);
  }
  for (int i = 0; i < n; ++i) {
    Result<RdmaDevice> d = describeDevice(list.get()[i], sysfs_root);
    if (!d) return d.status();
    out.push_back(std::move(*d));
  }
  return out;
}

Result<RdmaRoute> resolveRdmaRoute(const std::string& host, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0)
    return Status(StatusCode::kInvalidArgument,
                  "cannot resolve " + host + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, AddrInfoDeleter> ai(found);
  std::unique_ptr<rdma_event_channel, EventChannelDeleter> ch(rdma_create_event_channel());
  if (!ch)
    return Status(StatusCode::kNotSupported,
                  "rdma_cm is not available (/dev/infiniband/rdma_cm missing: load rdma_ucm)",
                  errno);
  rdma_cm_id* raw = nullptr;
  if (rdma_create_id(ch.get(), &raw, nullptr, RDMA_PS_TCP) != 0)
    return Status(StatusCode::kIoError, "rdma_create_id failed", errno);
  std::unique_ptr<rdma_cm_id, CmIdDeleter> id(raw);
  if (rdma_resolve_addr(id.get(), nullptr, ai->ai_addr, static_cast<int>(timeout.count())) != 0)
    return Status(StatusCode::kNotSupported,
                  "rdma_resolve_addr " + host + ": no RDMA device carries the route", errno);
  pollfd pfd{ch->fd, POLLIN, 0};
  // rdma_cm enforces `timeout` itself; the margin only covers a slow wakeup.
  const int rc = poll(&pfd, 1, static_cast<int>(timeout.count()) + 1000);
  if (rc == 0)
    return Status(StatusCode::kTimedOut, "rdma_resolve_addr " + host + ": no answer from rdma_cm");
  if (rc < 0) return Status(StatusCode::kIoError, "poll on the rdma_cm channel failed", errno);
  rdma_cm_event* ev = nullptr;
  if (rdma_get_cm_event(ch.get(), &ev) != 0)
    return Status(StatusCode::kIoError, "rdma_get_cm_event failed", errno);
  const rdma_cm_event_type type = ev->event;
  const int status = ev->status;
  rdma_ack_cm_event(ev);
  if (type != RDMA_CM_EVENT_ADDR_RESOLVED || !id->verbs)
    return Status(StatusCode::kNotSupported, "rdma_resolve_addr " + host + ": " +
                                                 rdma_event_str(type) + " (" +
                                                 std::strerror(status < 0 ? -status : status) +
                                                 "): no RDMA device carries the route");
  return RdmaRoute{ibv_get_device_name(id->verbs->device), id->port_num};
}

}  // namespace farlink::probe
