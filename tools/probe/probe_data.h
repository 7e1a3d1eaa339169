// What `farlink probe` finds out, as plain data: filled by the collectors
// (rdma_devices, interfaces, path, recommend), printed as text or JSON by
// probe_print.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace farlink::probe {

struct Gid {
  int index = 0;
  std::string gid;     // inet_ntop form, e.g. "fe80::..." or "::ffff:10.77.0.1"
  std::string type;    // sysfs gid_attrs/types: "RoCE v2", "IB/RoCE v1", "" if unknown
  std::string family;  // "ipv4" (IPv4-mapped) or "ipv6"
  std::string ndev;    // sysfs gid_attrs/ndevs: the netdev carrying it, "" for IB
};

struct RdmaPort {
  int port = 0;
  std::string state;  // "ACTIVE", "DOWN", ...
  int active_mtu = 0;  // bytes
  int max_mtu = 0;
  std::string link_layer;  // "Ethernet", "InfiniBand"
  std::string width;       // "1x", "4x", ...
  std::string speed;       // "SDR", "EDR", ...
  double gbps = 0;         // width x lane speed
  std::vector<Gid> gids;
};

struct RdmaDevice {
  std::string name;
  std::string node_guid;
  std::string fw_ver;
  uint32_t vendor_id = 0;
  uint32_t vendor_part_id = 0;
  int max_qp = 0;
  int max_qp_wr = 0;
  uint64_t max_mr_size = 0;
  std::vector<RdmaPort> ports;
};

struct NetInterface {
  std::string name;
  bool up = false;       // IFF_UP
  bool running = false;  // IFF_RUNNING: carrier
  int mtu = 0;
  std::vector<std::string> addresses;  // "10.0.0.1/24", "fe80::1/64"
};

// Which datapath `auto` would take to a host, and why.
struct TransportChoice {
  std::string transport;  // "verbs" or "tcp"
  std::string reason;
  std::string rdma_device;  // the device rdma_cm resolved the route to, if any
  int rdma_port = 0;
};

struct RttSummary {
  std::string method;  // "farlink ping" or "tcp connect"
  int samples = 0;
  double min_ms = 0, median_ms = 0, p99_ms = 0;
};

struct KernelLimits {
  uint64_t rmem_max = 0, wmem_max = 0;   // net.core: cap for SO_RCVBUF/SO_SNDBUF
  uint64_t tcp_rmem_max = 0, tcp_wmem_max = 0;  // net.ipv4.tcp_[rw]mem[2]: autotuning cap
};

// Sizing for one rate over one RTT (recommend.h says how it is derived).
struct Recommendation {
  double rate_bps = 0;
  double rtt_ms = 0;
  uint64_t bdp_bytes = 0;
  int lanes = 1;
  uint64_t window_bytes = 0;  // in flight across all lanes
  uint64_t socket_buffer = 0;  // per lane (FARLINK_SOCKET_BUFFER); 0: leave to autotuning
  double achievable_bps = 0;   // what the kernel limits allow with these settings
  std::string limit;           // which limit caps throughput, "" when none does
  std::vector<std::string> sysctls;  // commands that lift it
  int verbs_ack_timeout = 0;  // the QP ACK timeout t a verbs channel derives from this RTT
};

// What a datapath that picks its own transports (UCX) finds here, and
// whether auto:// would consider it.
struct DatapathResources {
  std::string name;                    // "ucx"
  std::vector<std::string> resources;  // "tcp/lo", "posix/memory", ...
  std::string error;                   // the datapath could not say
  std::string auto_note;               // why auto:// passes it over; "" = it would use it
};

struct ProbeReport {
  std::vector<DatapathResources> datapaths;
  bool rdma_built = false;
  std::string rdma_error;  // set when the device list could not be read
  std::vector<RdmaDevice> devices;
  std::vector<NetInterface> interfaces;
  KernelLimits limits;
  // With a HOST:
  std::string host;
  uint16_t port = 0;
  std::optional<TransportChoice> choice;
  std::optional<RttSummary> rtt;
  std::string rtt_error;
  std::optional<Recommendation> recommendation;
};

}  // namespace farlink::probe
