#!/bin/sh
# Fills deploy/scratch/context/ for deploy/scratch/Dockerfile: static dptrain
# binaries built with the host's Go toolchain, a minimal root file system and,
# when Debian's prometheus package is installed, the Prometheus server with
# the glibc files it links (it is dynamically linked: `ldd` lists them).
#
#   deploy/scratch/build.sh && docker-compose -f deploy/docker-compose.yml \
#       -f deploy/docker-compose.scratch.yml up -d --build
#
# Environment: VERSION (default: git describe, else dev); GO (default: go);
# DPT_NO_PROMETHEUS=1 skips Prometheus; DPT_PROMETHEUS_UI=1 adds its web UI.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ctx=$here/context
GO=${GO:-go}
VERSION=${VERSION:-$(git -C "$repo" describe --always --dirty 2>/dev/null || echo dev)}

rm -rf "$ctx"
mkdir -p "$ctx/bin" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp" \
    "$ctx/owned/out" "$ctx/owned/nats" "$ctx/owned/prometheus"

echo "build.sh: building static binaries ($VERSION)" >&2
(cd "$repo" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w -X main.version=$VERSION" \
    -o "$ctx/bin/" ./cmd/coordinator ./cmd/worker)
for b in coordinator worker; do
    if command -v file >/dev/null 2>&1 && ! file "$ctx/bin/$b" | grep -q 'statically linked'; then
        echo "build.sh: $b is not statically linked" >&2
        exit 1
    fi
done

chmod 1777 "$ctx/rootfs/tmp"
echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' > "$ctx/rootfs/etc/passwd"
echo 'nonroot:x:65532:' > "$ctx/rootfs/etc/group"
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
fi

if [ "${DPT_NO_PROMETHEUS:-}" = 1 ]; then
    mkdir -p "$ctx/prometheus"
    echo "build.sh: DPT_NO_PROMETHEUS=1: no Prometheus image" >&2
    exit 0
fi
prom=$(command -v prometheus || true)
if [ -z "$prom" ]; then
    echo "build.sh: prometheus not found: apt-get install prometheus, or set DPT_NO_PROMETHEUS=1" >&2
    exit 1
fi
p=$ctx/prometheus
mkdir -p "$p/usr/bin"
cp "$prom" "$p/usr/bin/prometheus"
# Each shared object the binary needs, at the path the loader looks for it.
ldd "$prom" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
while read -r lib; do
    mkdir -p "$p$(dirname "$lib")"
    cp -L "$lib" "$p$lib"
done
# Debian's web UI is a tree of symlinks into other packages (over 200 MB
# dereferenced). The HTTP API, scraping and rules need none of it, so it is
# copied only on request: DPT_PROMETHEUS_UI=1.
if [ "${DPT_PROMETHEUS_UI:-}" = 1 ] && [ -d /usr/share/prometheus ]; then
    mkdir -p "$p/usr/share/prometheus"
    cp -rL /usr/share/prometheus/. "$p/usr/share/prometheus/"
fi
echo "build.sh: context ready in $ctx" >&2
