#!/usr/bin/env bash
# Installs the Debian packages that rota's tests use, when they are missing:
#   busybox-static   a static /bin/busybox, copied into the `FROM scratch` test images
#   docker-registry  the registry binary, started by the tests on 127.0.0.1 with their own
#                    config (the packaged service is never used)
# Idempotent: runs `apt-get update` at most once, and only when something is missing.
set -euo pipefail

packages=(busybox-static docker-registry)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "ci-deps: already installed: ${packages[*]}"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ci-deps: must run as root to install: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "ci-deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

# The package starts its own registry service on :5000 where an init system runs it; the tests
# never use it, and it must not hold the port or the disk.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl stop docker-registry || true
    systemctl disable docker-registry >/dev/null 2>&1 || true
fi
