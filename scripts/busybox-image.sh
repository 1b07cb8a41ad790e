#!/usr/bin/env bash
# Builds a small OCI image from the host's busybox-static, without network access.
#
#   scripts/busybox-image.sh LAYOUT_DIR TAG [--httpd PORT] [--page TEXT]
#
# Creates the OCI layout LAYOUT_DIR if needed and (re)writes the image TAG in it: one layer with
# /bin/busybox, a symlink per applet in /bin, a minimal /etc/passwd and /etc/group, and /tmp.
# With --httpd PORT the image runs `httpd -f -v -p PORT -h /www` and serves /www/index.html
# (TEXT, default "Hello from Oak"); otherwise it runs `sh`. Rerunning replaces TAG; other tags in
# the layout are kept. Needs umoci and busybox-static (/bin/busybox).
set -euo pipefail

usage() {
  echo "usage: $0 LAYOUT_DIR TAG [--httpd PORT] [--page TEXT]" >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
layout=$1
tag=$2
shift 2
httpd_port=""
page="Hello from Oak"
while [[ $# -gt 0 ]]; do
  case $1 in
    --httpd) [[ $# -ge 2 ]] || usage; httpd_port=$2; shift 2 ;;
    --page) [[ $# -ge 2 ]] || usage; page=$2; shift 2 ;;
    *) usage ;;
  esac
done
if [[ -n $httpd_port && ! $httpd_port =~ ^[0-9]+$ ]]; then
  echo "$0: --httpd wants a port number, not '$httpd_port'" >&2
  exit 2
fi

busybox=/bin/busybox
if ! "$busybox" --list >/dev/null 2>&1 || ldd "$busybox" >/dev/null 2>&1; then
  echo "$0: $busybox is missing or not static; install busybox-static" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/busybox-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [[ $applet == busybox || $applet == */* ]] && continue
  ln -s busybox "$root/bin/$applet"
done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
if [[ -n $httpd_port ]]; then
  mkdir -p "$root/www"
  printf '%s\n' "$page" >"$root/www/index.html"
fi

[[ -f $layout/oci-layout ]] || umoci init --layout "$layout"
image="$layout:$tag"
umoci new --image "$image"   # replaces TAG with an empty image if it exists
umoci insert --image "$image" --history.created_by "busybox-image.sh" "$root" /
config=(--config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        --config.workingdir / --config.user 0:0 --no-history)
if [[ -n $httpd_port ]]; then
  config+=(--config.cmd httpd --config.cmd -f --config.cmd -v --config.cmd -p
           --config.cmd "$httpd_port" --config.cmd -h --config.cmd /www
           --config.exposedports "$httpd_port/tcp")
else
  config+=(--config.cmd sh)
fi
umoci config --image "$image" "${config[@]}"
umoci gc --layout "$layout"   # drops the blobs of a TAG this run replaced
