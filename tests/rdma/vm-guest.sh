#!/bin/bash
# Runs inside the rdma-vm guest (chrooted into the host's root): wires two
# Soft-RoCE devices over a veth pair, starts --siteB, runs the command.
# Its exit status becomes rdma-vm's; 125 means the setup failed.
J=/run/rdma-vm
exec 3>/run/rdma-vm-out 4>/run/rdma-vm-err
source $J/config
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
vlog() { [ "$VERBOSE" = 1 ] && echo "[rdma-vm] uptime $(cut -d' ' -f1 /proc/uptime)s: $*" >&4; return 0; }

# Both sites live in init_net: rdma_rxe (6.1 and 6.12) listens on UDP 4791
# only there, so two namespaces would leave rdma_cm unreachable. Policy
# routing forces 10.77.0.1 <-> 10.77.0.2 across the veth wire instead of lo,
# so netem and the RoCE packets really cross it.
setup_network() {
  set -e
  ip link set lo up
  ip link add vA mtu "$MTU" type veth peer name vB mtu "$MTU"
  for d in all default vA vB; do
    echo 0 >/proc/sys/net/ipv4/conf/$d/rp_filter
    echo 1 >/proc/sys/net/ipv4/conf/$d/accept_local
  done
  ip addr add 10.77.0.1/32 dev vA
  ip addr add 10.77.0.2/32 dev vB
  ip link set vA up
  ip link set vB up
  ip route add 10.77.0.2 dev vA src 10.77.0.1 table 100
  ip route add 10.77.0.1 dev vB src 10.77.0.2 table 101
  ip rule add pref 10 to 10.77.0.2 iif lo lookup 100
  ip rule add pref 11 to 10.77.0.1 iif lo lookup 101
  ip rule add pref 12 to 10.77.0.2 oif vA lookup 100
  ip rule add pref 13 to 10.77.0.1 oif vB lookup 101
  # The local table would otherwise answer first and short-cut via lo.
  ip rule add pref 100 lookup local
  ip rule del pref 0 lookup local
  # A real wire delivers a flow in order. veth hands each packet to the
  # input backlog of the CPU that sent it, and rxe sends a QP's packets from
  # whichever vCPU its task runs on, so a stalled vCPU's backlog is overtaken
  # by the other's: rxe's go-back-N answers every such overtake with a
  # retransmission storm (hundreds of out_of_seq_request per 64 KiB bw run,
  # worse the busier the host). RPS steers each flow (a QP's UDP source port)
  # to one CPU's backlog by its hash, which keeps it in order.
  if [ "$RPS" = 1 ]; then
    mask=$(printf '%x' $(((1 << $(nproc)) - 1)))
    for d in vA vB; do echo "$mask" >/sys/class/net/$d/queues/rx-0/rps_cpus; done
  fi
  if [ -n "$NETEM" ]; then
    tc qdisc add dev vA root netem $NETEM
    tc qdisc add dev vB root netem $NETEM
  fi
  rdma link add rxe0 type rxe netdev vA
  rdma link add rxe1 type rxe netdev vB
  for _ in $(seq 50); do
    [ -e /sys/class/infiniband/rxe1/ports/1/state ] && break
    sleep 0.1
  done
  set +e
}
vlog "setting up veth + rxe"
if ! (setup_network) >&4 2>&1; then
  echo "[rdma-vm] network/rxe setup failed (see above)" >&4
  exit 125
fi
ulimit -l unlimited
ulimit -n 65536 2>/dev/null
source $J/env 2>/dev/null
source $J/cmd
export PATH=${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
export RDMA_VM=1 SITE_A_IP=10.77.0.1 SITE_B_IP=10.77.0.2 RDMA_DEV_A=rxe0 RDMA_DEV_B=rxe1 \
  RDMA_NETDEV_A=vA RDMA_NETDEV_B=vB
cd "$CWD" || { echo "[rdma-vm] cannot cd to $CWD in the guest" >&4; exit 125; }

SBPID=""
if [ -n "$SITEB" ]; then
  mkfifo /run/siteb.fifo
  sed -u 's/^/[siteB] /' </run/siteb.fifo >&4 &
  SEDPID=$!
  RDMA_SITE=B setsid bash -c "$SITEB" >/run/siteb.fifo 2>&1 </dev/null &
  SBPID=$!
  vlog "siteB started"
  sleep "$SITEB_WAIT"
fi
vlog "running the command"
RDMA_SITE=A "${CMD[@]}" >&3 2>&4 </dev/null
rc=$?
vlog "command exited with $rc"
if [ -n "$SBPID" ]; then
  # siteB normally ends by itself once its peer is done; a server that never
  # ends must not keep the VM up forever.
  for _ in $(seq $((SITEB_GRACE * 10))); do
    kill -0 $SBPID 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 $SBPID 2>/dev/null; then
    echo "[rdma-vm] siteB still running ${SITEB_GRACE}s after the command ended; killing it" >&4
    kill -TERM -- -$SBPID 2>/dev/null
    sleep 0.5
    kill -KILL -- -$SBPID 2>/dev/null
  fi
  wait $SBPID
  sbrc=$?
  wait $SEDPID
  vlog "siteB exited with $sbrc"
  echo $sbrc >$J/siteb_rc
fi
exec 3>&- 4>&-
exit $rc
