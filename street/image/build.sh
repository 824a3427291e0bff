#!/usr/bin/env bash
# Build the street's base image from Debian's own packages: debootstrap a Debian 12 root,
# add what a bare server has (systemd, sshd, python3), then `docker import` it.
# Nothing here needs a container registry. Containers of it stop with SIGRTMIN+3 (systemd's
# halt signal): `docker import` cannot set STOPSIGNAL, so the street sets it per container.
# Usage: build.sh IMAGE:TAG
set -euo pipefail

image=${1:?usage: build.sh IMAGE:TAG}
mirror=${OTAP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
packages=systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,sudo,iproute2,procps,ca-certificates,gnupg,less

root=$(mktemp -d /var/tmp/otap-base.XXXXXX)
trap 'rm -rf "$root"' EXIT

echo "base image: debootstrap $suite from $mirror (a few minutes)"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -n 30 "$root.log"; exit 1; }
rm -f "$root.log"

cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES

# A server installed today is patched today: the image carries the current security updates,
# so an OS update on the street moves only what was published after the image was built.
echo "base image: applying Debian's updates"
chroot "$root" apt-get update -q >"$root.log" 2>&1 && \
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y -q dist-upgrade >>"$root.log" 2>&1 \
  || { tail -n 30 "$root.log"; exit 1; }
rm -f "$root.log"

# Every container gets host keys of its own, made at its first boot.
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/ssh-hostkeys.service "$root/etc/systemd/system/multi-user.target.wants/ssh-hostkeys.service"

# A container has no consoles and no hardware to wait for.
for unit in getty@tty1.service console-getty.service systemd-udevd.service \
            systemd-udev-trigger.service systemd-modules-load.service sys-kernel-config.mount \
            sys-kernel-debug.mount systemd-remount-fs.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
: >"$root/etc/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
# An image carries no package lists: mark them as ancient so the first apt run refreshes them.
touch -d @0 "$root/var/lib/apt/lists"

echo "base image: importing as $image"
tar -C "$root" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/lib/systemd/systemd"]' \
  - "$image" >/dev/null
