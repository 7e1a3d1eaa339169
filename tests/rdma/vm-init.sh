#!/bin/busybox sh
# /init of the rdma-vm initramfs (busybox only). Loads the modules the guest
# needs, builds the root: the host's / over virtio-9p (read-only) under a tmpfs
# overlay, so the host's binaries and libraries run unchanged and guest writes
# are thrown away. Then it hands over to vm-guest.sh from the job share.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
log() { echo "rdma-vm init: $*" >/dev/ttyS0; }
for m in $(cat /modules.list); do
  insmod "/lib/modules/$m" 2>/dev/null || log "insmod $m failed"
done
fail() {
  log "$*"
  echo 125 >/mnt/job/rc 2>/dev/null
  sync
  poweroff -f
}
P9="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o "$P9" job /mnt/job || fail "cannot mount the job share"
# cache=loose: the host root does not change under us while the job runs, and
# loose caching makes exec/dlopen over 9p several times faster under TCG.
mount -t 9p -o "$P9,ro,cache=loose" hostroot /mnt/host || fail "cannot mount the host root"
R=/newroot
mount -t tmpfs -o mode=755 rw /mnt/rw && mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work overlay $R ||
  fail "cannot mount the overlay root"
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs shm $R/dev/shm
mount -t tmpfs -o mode=755 run $R/run
mkdir -p $R/run/rdma-vm
mount --move /mnt/job $R/run/rdma-vm
# Read-write shares (the caller's cwd and every --rw PATH), at the host's paths.
while read -r tag path; do
  mkdir -p "$R$path" 2>/dev/null
  mount -t 9p -o "$P9" "$tag" "$R$path" || fail "cannot mount $path read-write"
done <$R/run/rdma-vm/mounts
# virtio-serial ports carry the command's stdout/stderr back to the host.
for p in /sys/class/virtio-ports/vport*; do
  [ -e "$p/name" ] && ln -sf "/dev/${p##*/}" "$R/run/rdma-vm-$(cat "$p/name")"
done
hostname rdma-vm
log "uptime $(cut -d' ' -f1 /proc/uptime)s, starting the job"
chroot $R /bin/bash /run/rdma-vm/guest.sh
echo $? >$R/run/rdma-vm/rc
sync
poweroff -f
