#!/usr/bin/env bash
# Makes, once, the base images that a local podman build of
# templates/caliopen-go/Dockerfile needs, since no registry can be pulled
# from here, and prints the variables the image test (deploy's
# TestImageBuild) reads, as shell export lines:
#
#   vars=$(bash scripts/test-peers/image-bases.sh) && eval "$vars"   # then: go test ./deploy -run TestImageBuild
#
# - localhost/caliopen-debian:bookworm: `debootstrap --variant=minbase
#   bookworm` with ca-certificates, from Debian's packages (the ship stage's
#   base, for RUNTIME_IMAGE);
# - localhost/caliopen-golang:<go version>-bookworm: the same tree with the
#   Go toolchain this machine runs, as the Go module proxy serves it
#   (golang.org/toolchain), at /usr/local/go, and this machine's CA bundle
#   (the build stage's base, for GO_IMAGE);
# - localhost/caliopen-watchdog:unavailable (for WATCHDOG_IMAGE): of-watchdog
#   cannot be had here. The Go module proxy refuses its module
#   (github.com/openfaas/of-watchdog, every version, pseudo-versions too:
#   "403 Forbidden ... This module version is not available"; its tags lack
#   the "v" of a module version) and no registry can be pulled from. The
#   image holds a /fwatchdog that says so and exits 1; the test runs the
#   image's fprocess itself, as the watchdog would.
#
# Everything lives in a podman storage of its own under the cache folder
# (CALIOPEN_IMAGE_CACHE, default ~/.cache/caliopen-images), with the
# debootstrap tree as a tarball, so a second run only checks that the
# images exist. The first run costs a debootstrap (about a minute on an
# idle machine, far more on a loaded one) and a 70 MB toolchain download.
# Progress goes to stderr; stdout is only the export lines.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

SUITE=bookworm
CACHE=${CALIOPEN_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caliopen-images}
GOVERSION=$(GOTOOLCHAIN=local go env GOVERSION) # go1.26.8
GOARCH=$(GOTOOLCHAIN=local go env GOARCH)
DEBIAN=localhost/caliopen-debian:$SUITE
GOIMAGE=localhost/caliopen-golang:${GOVERSION#go}-$SUITE
WATCHDOG=localhost/caliopen-watchdog:unavailable

cache_lock "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
missing=()
for tool in podman debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
# podman's build needs buildah's chroot isolation support; uidmap for its
# user namespace tools.
if ((${#missing[@]})); then apt_install podman buildah debootstrap uidmap; fi

# A storage of these images only, apart from the machine's.
PODMAN=(podman --root "$CACHE/storage" --runroot "$CACHE/run" --storage-driver overlay)

if ! "${PODMAN[@]}" image exists "$DEBIAN"; then
  TAR="$CACHE/$SUITE-minbase.tar"
  if [ ! -s "$TAR" ]; then
    log "debootstrap --variant=minbase $SUITE into $CACHE (once)"
    rm -rf "$CACHE/rootfs"
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$CACHE/rootfs" >&2
    tar -C "$CACHE/rootfs" -cf "$TAR.tmp" . && mv "$TAR.tmp" "$TAR"
    rm -rf "$CACHE/rootfs"
  fi
  "${PODMAN[@]}" import --change 'CMD ["/bin/bash"]' "$TAR" "$DEBIAN" >&2
fi

if ! "${PODMAN[@]}" image exists "$GOIMAGE"; then
  log "making $GOIMAGE from golang.org/toolchain (module proxy)"
  MOD=$(GOTOOLCHAIN=local GOFLAGS= go mod download -json \
    "golang.org/toolchain@v0.0.1-$GOVERSION.linux-$GOARCH" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -f "$MOD/bin/go" ] || { log "golang.org/toolchain $GOVERSION: no bin/go in the module"; exit 1; }
  LAYER=$(mktemp -d "${TMPDIR:-/tmp}/caliopen-goimage.XXXXXX")
  trap 'rm -rf "$LAYER"' EXIT
  mkdir -p "$LAYER/usr/local" "$LAYER/go/bin" "$LAYER/go/src"
  # The module's zip keeps no file modes: the go command makes its
  # programs executable when it switches to a toolchain, and so does this.
  cp -r "$MOD" "$LAYER/usr/local/go" && chmod -R u+w "$LAYER/usr/local/go"
  # The machine's CA bundle, which holds the authorities of its way out to
  # the module proxy (an egress proxy's own, here): Debian's alone gets
  # "x509: certificate signed by unknown authority" from the go command.
  cp /etc/ssl/certs/ca-certificates.crt "$LAYER/ca-certificates.crt"
  chmod 0755 "$LAYER"/usr/local/go/bin/* "$LAYER"/usr/local/go/pkg/tool/*/*
  # As the public golang images set it up.
  cat >"$LAYER/Containerfile" <<EOF
FROM $DEBIAN
COPY usr/local/go /usr/local/go
COPY go /go
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV GOLANG_VERSION=${GOVERSION#go} GOTOOLCHAIN=local GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
EOF
  "${PODMAN[@]}" build --isolation=chroot -q -t "$GOIMAGE" -f "$LAYER/Containerfile" "$LAYER" >&2
fi

if ! "${PODMAN[@]}" image exists "$WATCHDOG"; then
  log "making $WATCHDOG: of-watchdog's module is not served here (see this script's header)"
  LAYER=$(mktemp -d "${TMPDIR:-/tmp}/caliopen-watchdog.XXXXXX")
  trap 'rm -rf "$LAYER"' EXIT
  printf '%s\n' '#!/bin/sh' \
    'echo "of-watchdog could not be built here: its Go module is not served; run the image'"'"'s fprocess" >&2' \
    'exit 1' >"$LAYER/fwatchdog"
  chmod 0755 "$LAYER/fwatchdog"
  printf 'FROM scratch\nCOPY fwatchdog /fwatchdog\n' >"$LAYER/Containerfile"
  "${PODMAN[@]}" build --isolation=chroot -q -t "$WATCHDOG" -f "$LAYER/Containerfile" "$LAYER" >&2
fi

# Each build of a changed module leaves its layers behind: drop those of
# builds older than a week.
"${PODMAN[@]}" image prune -f --filter until=168h >/dev/null
cache_unlock

cat <<EOF
export CALIOPEN_TEST_PODMAN_ROOT='$CACHE/storage'
export CALIOPEN_TEST_PODMAN_RUNROOT='$CACHE/run'
export CALIOPEN_TEST_IMAGE_GO='$GOIMAGE'
export CALIOPEN_TEST_IMAGE_RUNTIME='$DEBIAN'
export CALIOPEN_TEST_IMAGE_WATCHDOG='$WATCHDOG'
EOF
