// The TLS side of the TCP datapath: a batch built for sendmsg is sealed into
// TLS records first, and received records are opened into the staging
// buffer that parse() reads, so framing, matching and flow control see the
// same plaintext stream as on a plaintext lane. Costs a copy each way that
// kTLS saves: a lane the kernel took over (TlsLane::kernel()) skips this
// file but for kernelTlsError().
#include <cerrno>
#include <cstring>

#include "transport/tcp/tcp_channel.h"

namespace farlink::tcp {

bool TcpChannel::sealBatch(Lane& lane) {
  lane.sealed.clear();
  if (Status s = lane.tls->seal(lane.mh.msg_iov, lane.mh.msg_iovlen, &lane.sealed); !s) {
    lane.send_busy = false;
    fail(s);
    return false;
  }
  // The short-send bookkeeping of onSent() now walks the records.
  lane.iov[0] = {lane.sealed.data(), lane.sealed.size()};
  lane.mh.msg_iov = lane.iov.data();
  lane.mh.msg_iovlen = 1;
  lane.batch_left = lane.sealed.size();
  return true;
}

void TcpChannel::openTls(Lane& lane) {
  using Rx = Lane::RxState;
  while (failed_.isOk() && (lane.rx == Rx::kHeader || lane.rx == Rx::kPayload)) {
    if (lane.rx == Rx::kPayload && lane.dest != nullptr && lane.rpos == lane.rend &&
        lane.remaining >= kDirectMin) {
      // Large payload: decrypt straight into the destination, as a
      // plaintext lane receives it there, saving the staging copy.
      auto n = lane.tls->read(lane.dest, lane.remaining);
      if (!n) return fail(n.status());
      if (*n == 0) return;
      lane.dest += *n;
      lane.remaining -= *n;
      if (lane.remaining == 0) payloadDone(lane);
      continue;
    }
    if (lane.rpos > 0) {  // keep the unparsed tail (part of a header) at the front
      std::memmove(lane.staging.get(), lane.staging.get() + lane.rpos, lane.rend - lane.rpos);
      lane.rend -= lane.rpos;
      lane.rpos = 0;
    }
    auto n = lane.tls->read(lane.staging.get() + lane.rend, kStagingBytes - lane.rend);
    if (!n) return fail(n.status());
    if (*n == 0) return;  // TLS needs more records: armRecv asks for them
    lane.rend += *n;
    parse(lane);
  }
}

Status TcpChannel::kernelTlsError(const Lane& lane, int err) const {
  const std::string where = "lane " + std::to_string(lane.index) + " from " + setup_.peer;
  if (err == EBADMSG)
    return Status(StatusCode::kProtocolError,
                  "kernel TLS on " + where + " rejected a record that fails authentication: "
                  "the data was altered in transit or the peer is not farlink");
  // EIO: a record that is not application data (an alert such as
  // close_notify, or a KeyUpdate), which farlink never sends.
  return Status(StatusCode::kProtocolError,
                "peer " + setup_.peer + " sent a TLS control record (alert or key update) on " +
                    where + ", which farlink never sends (not a farlink peer?); the lane's kernel "
                    "TLS cannot go on");
}

}  // namespace farlink::tcp
