#!/usr/bin/env bash
# Make sure a Docker engine answers. If none does, install Debian's docker.io (and
# debootstrap, for the base image) and start dockerd ourselves: nothing assumes a daemon
# someone else left running. Needs root for the install and the daemon.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "No Docker engine answers and this is not root: start Docker, or run make setup as root." >&2
  exit 1
fi
if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  echo "docker engine: installing Debian's docker.io and debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi
if docker info >/dev/null 2>&1; then
  exit 0
fi
echo "docker engine: starting dockerd (log: /var/log/otap-dockerd.log)"
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  systemctl start docker
else
  setsid nohup dockerd >/var/log/otap-dockerd.log 2>&1 </dev/null &
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not answer within 60s; see /var/log/otap-dockerd.log" >&2
exit 1
