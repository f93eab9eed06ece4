#!/usr/bin/env bash
# Runs the replica VMs' provisioning for real, twice, in a Debian root file system (the tests'
# stand-in for the Ubuntu VM, which no machine here can boot), then logs in to the SFTP account it
# made. Called by scripts/replica/test/provision.int.spec.ts inside `unshare --mount`, so every mount
# it makes vanishes with it. Prints markers the test reads: "== run 1 exit N", "== run 2 exit N",
# "== sftp exit N".
#   chroot-provision.sh ROOTFS APT-CACHE SSH-PORT CLIENT-KEY
set -uo pipefail
rootfs=$1 apt_cache=$2 port=$3 key=$4
here=$(cd "$(dirname "$0")/../../../.." && pwd)

mount -t proc proc "$rootfs/proc"
mount --rbind /dev "$rootfs/dev"
mount -t tmpfs tmpfs "$rootfs/run"
mkdir -p "$apt_cache/partial" "$rootfs/var/cache/apt/archives"
mount --bind "$apt_cache" "$rootfs/var/cache/apt/archives"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
# As in Debian's container images: packages never start services (no init here, and the host's
# ports, 22 among them, are not the chroot's to take).
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"
mkdir -p "$rootfs/opt/veche/provision"
cp "$here"/vagrant/provision/*.sh "$rootfs/opt/veche/provision/"

for run in 1 2; do
  chroot "$rootfs" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root VECHE_PROVISION_OFFLINE=1 \
    bash /opt/veche/provision/common.sh 2>&1
  echo "== run $run exit $?"
done
for script in primary standby; do
  chroot "$rootfs" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin bash "/opt/veche/provision/$script.sh" 2>&1
  echo "== $script exit $?"
done

# The SFTP account, as a client sees it: the account's key in its home's .ssh (its home is /).
install -d -m 0755 "$rootfs/.ssh"
install -m 0644 "$key.pub" "$rootfs/.ssh/authorized_keys"
chroot "$rootfs" /usr/sbin/sshd -D -e -p "$port" -o ListenAddress=127.0.0.1 -o PidFile=/run/sshd-test.pid &
sshd=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
echo 'hello from the host' >"$rootfs/tmp/veche-sftp-probe"
sftp -b - -P "$port" -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  sftp@127.0.0.1 2>&1 <<SFTP
ls -1 /
put $rootfs/tmp/veche-sftp-probe /upload/probe.txt
SFTP
echo "== sftp exit $?"
# Outside the account's root nothing is reachable: the chroot holds.
sftp -b - -P "$port" -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  sftp@127.0.0.1 2>&1 <<SFTP
get /etc/passwd $rootfs/tmp/escaped
SFTP
echo "== escape exit $?"
kill "$sshd" 2>/dev/null
wait "$sshd" 2>/dev/null
umount -l "$rootfs/var/cache/apt/archives" "$rootfs/run" "$rootfs/dev" "$rootfs/proc" 2>/dev/null
exit 0
