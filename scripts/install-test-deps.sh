#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real (kubectl, dig, curl, nft, iptables,
# conntrack, ip, etcd). Runs only what is missing, so a second run costs nothing. Needs root
# (or passwordless sudo) the first time on a fresh machine.
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
)
missing=()
for bin in "${!want[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${want[$bin]}")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "install-test-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
