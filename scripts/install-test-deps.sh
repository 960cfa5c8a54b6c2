#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real (kubectl, dig, curl, nft, iptables,
# conntrack, ip, etcd), and what the IPVS tests' VM needs (test/vm/qemu.ts: qemu, Debian's kernel,
# which has ip_vs, busybox-static for the initramfs, ipvsadm and ipset inside the VM), and
# liburing-dev, with which the userspace proxy's native pump is built on io_uring (without it,
# `npm ci` builds the epoll pump only; when it is installed here, the addons are rebuilt).
# Runs only what is missing, so a second run costs nothing. Needs root (or passwordless sudo) the
# first time on a fresh machine.
set -euo pipefail

declare -A want=(
  [kubectl]=kubernetes-client
  [dig]=bind9-dnsutils
  [curl]=curl
  [nft]=nftables
  [iptables]=iptables
  [conntrack]=conntrack
  [ip]=iproute2
  [openssl]=openssl
  [qemu-system-x86_64]=qemu-system-x86
  [ipvsadm]=ipvsadm
  [ipset]=ipset
)
missing=()
for bin in "${!want[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${want[$bin]}")
done
[[ -x /bin/busybox ]] || missing+=(busybox-static)
[[ -f /usr/include/liburing.h ]] || missing+=(liburing-dev)
# A kernel whose modules include ip_vs (this machine's own kernel is built without it).
compgen -G '/lib/modules/*/kernel/net/netfilter/ipvs/ip_vs.ko*' >/dev/null && compgen -G '/boot/vmlinuz-*' >/dev/null || missing+=(linux-image-amd64)
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "install-test-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ " ${missing[*]-} " == *" liburing-dev "* ]]; then
  echo "install-test-deps: rebuilding the native addons with liburing"
  node "${npm_config_node_gyp:-$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js}" rebuild >/dev/null
fi
