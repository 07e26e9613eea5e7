#!/usr/bin/env bash
# Checks the README's two commands on a machine that has never seen the project: bootstraps a
# clean Debian 12 root (debootstrap --variant=minbase bookworm; the base is cached as a tarball
# in build/fresh/), clones the current commit into it, and runs `./scripts/main.sh` and then
# `./scripts/test.sh` inside it with chroot. Prints each command's result and wall time; exits
# non-zero when either fails. Needs root (debootstrap, mount, chroot).
#
#   scripts/fresh_check.sh [--only main|test] [--keep] [--rebuild-base]
#
#   --only main|test   run one of the two commands (default: both, in README order)
#   --keep             leave the fresh root in build/fresh/root for inspection (unmounted)
#   --rebuild-base     bootstrap the cached base again
#
# Environment: FRESH_MIRROR (default http://deb.debian.org/debian), FRESH_SECURITY_MIRROR
# (default http://deb.debian.org/debian-security), FRESH_DIR (default <repo>/build/fresh).
#
# Safety: every mount lives in a private mount namespace (unshare), so the host never sees it and
# it vanishes with the namespace even if this script is killed; the trap unmounts anyway, and the
# root is deleted only after checking that nothing is mounted under it, with --one-file-system.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
only=""
keep=0
rebuild_base=0
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only=${2:-}; shift 2 ;;
    --keep) keep=1; shift ;;
    --rebuild-base) rebuild_base=1; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$only" in ""|main|test) ;; *) echo "fresh_check: --only takes main or test, not '$only'" >&2; exit 2 ;; esac

if [ "$(id -u)" -ne 0 ]; then
  echo "fresh_check: needs root (debootstrap, mount and chroot); run it as root or with sudo" >&2
  exit 2
fi

fresh=${FRESH_DIR:-$repo/build/fresh}
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
security_mirror=${FRESH_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
base_tar=$fresh/base-bookworm-minbase.tar
root=$fresh/root
logs=$fresh/logs
# Downloaded .deb files are kept between runs (they are packages, not installed state: every
# run still installs them into an untouched root).
apt_archives=$fresh/apt-archives
mkdir -p "$fresh" "$logs" "$apt_archives/partial"

log() { printf 'fresh_check: %s\n' "$*" >&2; }

# Lists every mount point at or under $1, as the host sees them.
mounts_under() {
  local dir
  dir=$(readlink -f "$1")
  awk -v d="$dir" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print m }' /proc/self/mountinfo
}

# Deletes a tree (the fresh root, the bootstrap staging folder), but only when nothing is
# mounted under it: a recursive delete through a bind mount of /dev or /sys would delete the
# host's.
remove_tree() {
  local dir=$1 left
  [ -e "$dir" ] || return 0
  left=$(mounts_under "$dir")
  if [ -n "$left" ]; then
    log "NOT deleting $dir: still mounted under it:"
    printf '  %s\n' $left >&2
    return 1
  fi
  rm -rf --one-file-system "$dir"
}
remove_root() { remove_tree "$root"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  stop_runner
  if [ "$keep" -eq 1 ]; then
    [ -e "$root" ] && log "kept the fresh root in $root"
  else
    remove_root || rc=1
  fi
  exit "$rc"
}
runner=""
# The runner unmounts everything on its way out; wait for it before the root is touched.
stop_runner() {
  [ -n "$runner" ] || return 0
  kill -TERM "$runner" 2>/dev/null || true
  wait "$runner" 2>/dev/null || true
  runner=""
}
trap cleanup EXIT
trap 'log "interrupted"; stop_runner; exit 130' INT
trap 'log "terminated"; stop_runner; exit 143' TERM HUP

command -v debootstrap >/dev/null 2>&1 || {
  log "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >&2
}

# A root left behind by a killed run is removed first (safely).
remove_root

# 1. The cached base: a minbase bookworm, exactly as debootstrap makes it.
if [ "$rebuild_base" -eq 1 ] || [ ! -s "$base_tar" ]; then
  log "bootstrapping a minbase Debian 12 (bookworm) from $mirror"
  start=$(date +%s)
  staging=$fresh/base-staging
  remove_tree "$staging" || exit 1
  # In a private mount namespace too (debootstrap mounts /proc and /sys in the target), and a
  # second try when the first fails on a dropped download.
  bootstrap() { unshare --mount --propagation private debootstrap --variant=minbase bookworm "$staging" "$mirror" >"$logs/debootstrap.log" 2>&1; }
  if ! bootstrap; then
    log "debootstrap failed; trying once more"
    remove_tree "$staging" || exit 1
    if ! bootstrap; then
      log "debootstrap failed; last lines of $logs/debootstrap.log:"
      tail -n 20 "$logs/debootstrap.log" >&2
      exit 1
    fi
  fi
  # What a Debian 12 installation lists: the release, its updates and its security updates.
  cat >"$staging/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
EOF
  rm -rf --one-file-system "$staging/var/cache/apt/archives"/*.deb "$staging/var/lib/apt/lists"/* 2>/dev/null || true
  tar -C "$staging" --numeric-owner -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"
  remove_tree "$staging" || exit 1
  log "base ready in $(( $(date +%s) - start )) s ($base_tar)"
fi

# 2. A fresh root from the base, and the current commit cloned into it.
mkdir -p "$root"
tar -C "$root" --numeric-owner -xf "$base_tar"
commit=$(git -C "$repo" rev-parse HEAD)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  log "note: the work tree has uncommitted changes; the fresh root gets commit ${commit:0:12} without them"
fi
git clone --quiet --no-local --no-checkout "$repo" "$root/root/bertscope"
git -C "$root/root/bertscope" checkout --quiet --detach "$commit"

# Package registries may only be reachable through the host's resolver, CA certificates and npm
# configuration: copy them in when the host has them (update-ca-certificates, run when setup.sh
# installs ca-certificates, picks up the extra certificates).
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -rL /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
[ -f /etc/npmrc ] && cp -L /etc/npmrc "$root/etc/npmrc"

# 3. The README's commands, in README order, each inside the chroot with a clean environment.
readme_commands=(main test)
[ -n "$only" ] && readme_commands=("$only")

# Runs inside a private mount namespace: mounts /proc, /sys, /dev, /dev/pts (and the .deb cache),
# runs one command in the chroot, and unmounts on the way out.
inner=$(cat <<'INNER'
set -u
root=$1; apt_archives=$2; cmd=$3; logfile=$4
mounted=()
child=""
unmount_all() {
  local i
  for (( i=${#mounted[@]}-1; i>=0; i-- )); do
    umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}"
  done
}
# Stops the command's whole process group (apt, ninja, ctest ...), so the mounts can go.
stop_child() {
  [ -n "$child" ] || return 0
  kill -TERM -- "-$child" 2>/dev/null || return 0
  for _ in $(seq 20); do kill -0 -- "-$child" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL -- "-$child" 2>/dev/null || true
}
trap 'stop_child; unmount_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
mnt() { local target=${@: -1}; mount "$@" || { echo "fresh_check: cannot mount $target" >&2; exit 1; }; mounted+=("$target"); }
mnt -t proc proc "$root/proc"
mnt -t sysfs sysfs "$root/sys"
mnt --bind /dev "$root/dev"
mnt --bind /dev/pts "$root/dev/pts"
# Chromium needs a writable /dev/shm: a tmpfs of the root's own (the namespace is private, so
# this never lands on the host's /dev).
mnt -t tmpfs -o mode=1777,size=2g shm "$root/dev/shm"
mnt --bind "$apt_archives" "$root/var/cache/apt/archives"
# In the background, in a session of its own, so that a signal is handled at once (bash runs
# traps only after a foreground child ends) and reaches every process of the command.
setsid -w chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/bash -c "cd /root/bertscope && ./scripts/$cmd.sh" </dev/null >"$logfile" 2>&1 &
child=$!
wait "$child"
rc=$?
child=""
exit "$rc"
INNER
)

declare -A result seconds
status=0
for cmd in "${readme_commands[@]}"; do
  logfile=$logs/$cmd.log
  log "running ./scripts/$cmd.sh in the fresh root (log: $logfile)"
  start=$(date +%s)
  unshare --mount --propagation private bash -c "$inner" inner "$root" "$apt_archives" "$cmd" "$logfile" &
  runner=$!
  rc=0
  wait "$runner" || rc=$?
  runner=""
  if [ "$rc" -eq 0 ]; then
    result[$cmd]=passed
  else
    result[$cmd]="FAILED (exit $rc)"
    status=1
  fi
  seconds[$cmd]=$(( $(date +%s) - start ))
  if [ "${result[$cmd]}" != passed ]; then
    log "./scripts/$cmd.sh failed; last lines of $logfile:"
    tail -n 25 "$logfile" | sed 's/^/  | /' >&2
    # The first error in the log, on one line: what a missing package or a broken step says first.
    first=$(grep -m1 -A3 -E '^(CMake Error|E: |FAILED: )|error:|The following tests FAILED' "$logfile" | tr -s ' \n' ' ' | cut -c1-300 || true)
    [ -n "$first" ] && result[$cmd]+=" — first error: $first"
  fi
done

echo "fresh Debian 12 (bookworm minbase), commit ${commit:0:12}:"
for cmd in "${readme_commands[@]}"; do
  printf '  ./scripts/%-8s %4d s  %s\n' "$cmd.sh" "${seconds[$cmd]}" "${result[$cmd]}"
done
exit "$status"
