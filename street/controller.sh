#!/usr/bin/env bash
# Prepare the controller with the Debian packages a target needs, and (for the street) a Docker
# engine that answers:
#   controller.sh unit      MariaDB's server and bootstrap tools: the release SQL's unit tests
#                           start one in a folder of their own (no service is set up or started);
#                           ssh-keygen, with which push_sender's tests make keys;
#   controller.sh           the street: Docker engine, debootstrap for the base image, rsync and
#                           ssh for deploying;
#   controller.sh molecule  the street, and Chromium for the tests of the status report.
# Nothing assumes a daemon someone else left running. Installing needs root.
set -euo pipefail
mode=${1:-street}

needed=()
if [ "$mode" = unit ]; then
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || needed+=(mariadb-server-core)
  command -v my_print_defaults >/dev/null 2>&1 || needed+=(mariadb-client-core)
  command -v ssh-keygen >/dev/null 2>&1 || needed+=(openssh-client)
else
  command -v dockerd >/dev/null 2>&1 || needed+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || needed+=(debootstrap)
  command -v rsync >/dev/null 2>&1 || needed+=(rsync)
  command -v ssh >/dev/null 2>&1 || needed+=(openssh-client)
fi
if [ "$mode" = molecule ]; then
  command -v chromium >/dev/null 2>&1 || needed+=(chromium)
fi

if [ ${#needed[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup needs these Debian packages: ${needed[*]}; install them, or run make setup as root." >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${needed[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}" >/dev/null
fi
[ "$mode" = unit ] && exit 0

docker info >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "No Docker engine answers and this is not root: start Docker, or run make setup as root." >&2
  exit 1
fi
echo "setup: starting dockerd (log: /var/log/otap-dockerd.log)"
if [ -d /run/systemd/system ]; then
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
