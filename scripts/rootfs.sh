# Root filesystems of each Debian release the wizard supports, for running the suite on that
# release's own Python, OpenSSL and Prosody. Sourced by scripts/test, not run.
#
# A release's tree is built once with debootstrap from Debian's archive (the mirror this host's
# apt uses, or DEBIAN_MIRROR), the lab's packages installed inside, and kept under
# JW_ROOTFS_CACHE (default /var/cache/jitsi-wizard-test) until the package list changes.
# The suite then runs in a private mount namespace (unshare), so every mount made for it goes
# away with it, whatever way it ends.

RELEASES_ALL=(bullseye bookworm trixie)
JW_ROOTFS_CACHE=${JW_ROOTFS_CACHE:-/var/cache/jitsi-wizard-test}

# The lab's packages, the same names on every release (see README, "Tests").
ROOTFS_PACKAGES=(
  python3 python3-venv openssl ca-certificates iproute2 netbase procps e2fsprogs
  slapd ldap-utils                      # LDAP directory
  prosody prosody-modules lua-ldap      # XMPP server with LDAP authentication
  nginx                                 # web server for certificates
  pebble certbot                        # a real ACME server, and its client
  dnsmasq-base                          # DNS
  nftables                              # firewall rules inside network namespaces
  tmux                                  # the real terminal
  openssh-server openssh-client         # Ansible reaches the lab's hosts over real SSH
  gnutls-bin                            # a second TLS library's view of certificates
  lua5.4 nodejs systemd default-jdk-headless  # readers that check the wizard's escaping
)

# The Debian mirror: DEBIAN_MIRROR, else the first Debian archive in this host's apt sources.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return 0; fi
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
          2>/dev/null | sed -nE 's#^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)([a-z]+://[^[:space:]]+/debian)/?([[:space:]].*)?$#\3#p' \
        | head -n 1)
  if [ -z "$uri" ]; then
    echo "scripts/test: no Debian archive in this host's apt sources; set DEBIAN_MIRROR to one" \
         "(the URL that holds dists/bookworm)" >&2
    return 1
  fi
  echo "$uri"
}

# Raise when the way a tree is built changes (the package list counts by itself).
ROOTFS_FORMAT=1

# rootfs_stamp: changes whenever what goes into a tree changes.
rootfs_stamp() {
  printf '%s\n' "$ROOTFS_FORMAT" "${ROOTFS_PACKAGES[@]}" | sha256sum | cut -c1-16
}

# rootfs_ensure NAME: print the directory of NAME's tree, building it first when needed.
rootfs_ensure() {
  local name=$1 dir="$JW_ROOTFS_CACHE/$1" stamp mirror
  stamp=$(rootfs_stamp)
  if [ -e "$dir/.jw-rootfs-$stamp" ]; then echo "$dir"; return 0; fi
  command -v debootstrap >/dev/null || {
    echo "== installing debootstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  }
  mirror=$(debian_mirror) || return 1
  local t0=$SECONDS tmp="$dir.building"
  echo "== building the $name tree in $dir (debootstrap from $mirror)" >&2
  rm -rf "$tmp" && mkdir -p "$JW_ROOTFS_CACHE"
  debootstrap --variant=minbase "$name" "$tmp" "$mirror" > "$JW_ROOTFS_CACHE/$name.debootstrap.log" 2>&1 || {
    echo "scripts/test: debootstrap of $name failed; the end of $JW_ROOTFS_CACHE/$name.debootstrap.log:" >&2
    tail -n 15 "$JW_ROOTFS_CACHE/$name.debootstrap.log" >&2
    return 1
  }
  # Package scripts inside must start no service.
  printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d" && chmod 755 "$tmp/usr/sbin/policy-rc.d"
  cp -L /etc/resolv.conf "$tmp/etc/resolv.conf"
  rootfs_run "$tmp" apt-get update -qq >&2 &&
  rootfs_run "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${ROOTFS_PACKAGES[@]}" > "$JW_ROOTFS_CACHE/$name.apt.log" 2>&1 || {
    echo "scripts/test: installing the lab's packages in $name failed; the end of $JW_ROOTFS_CACHE/$name.apt.log:" >&2
    tail -n 15 "$JW_ROOTFS_CACHE/$name.apt.log" >&2
    return 1
  }
  rootfs_run "$tmp" apt-get clean
  rm -rf "$dir" && mv "$tmp" "$dir" && touch "$dir/.jw-rootfs-$stamp"
  echo "== $name tree ready in $((SECONDS - t0)) s" >&2
  echo "$dir"
}

# rootfs_run DIR CMD...: CMD inside DIR, in a private mount namespace with proc, sys, dev and
# this checkout (at /src) mounted, and a clean environment.
rootfs_run() {
  local dir=$1
  shift
  unshare --mount --propagation private -- bash -c '
    set -e
    dir=$1 repo=$2; shift 2
    # ip netns needs the tree to be a mount point of its own.
    mount --bind "$dir" "$dir"
    mount -t proc proc "$dir/proc"
    mount --rbind /sys "$dir/sys"  # with its cgroup tree, which systemd-analyze reads
    mount --rbind /dev "$dir/dev"
    mount -t tmpfs -o mode=755 tmpfs "$dir/run"
    mount -t tmpfs -o mode=1777 tmpfs "$dir/tmp"
    mkdir -p "$dir/src" && mount --bind "$repo" "$dir/src"
    exec chroot "$dir" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root LANG=C.UTF-8 TERM="${TERM:-xterm}" CI="${CI:-}" PIP_CERT=/etc/jw-host-ca.crt \
      PIP_DISABLE_PIP_VERSION_CHECK=1 JW_SUITE_RUN="${JW_SUITE_RUN:-}" "$@"
  ' rootfs-run "$dir" "$REPO" "$@"
}

# The oldest release runs the oldest versions pyproject.toml allows (its floors), so the
# floors are proven to install and pass on Python 3.9; the others run the newest.
FLOORS_RELEASE=bullseye

# rootfs_venv_dir NAME: where NAME's tree has the wizard installed.
rootfs_venv_dir() {
  if [ "$1" = "$FLOORS_RELEASE" ]; then echo /opt/jw-venv-floors; else echo /opt/jw-venv; fi
}

# floors: pyproject.toml's `name>=version` requirements as `name==version` constraints
# (the linters excepted: they check the code, whatever their version).
floors() {
  sed -nE 's/^ *"([A-Za-z0-9_.-]+)>=([0-9.]+)("|;).*/\1==\2/p' "$REPO/pyproject.toml" |
    grep -vE '^(ruff|vermin|ansible-lint)=='
}

# rootfs_venv NAME DIR: the wizard and its test tools installed into the tree's own Python
# (again whenever pyproject.toml changes); ansible-lint (the `lint` extra) too, except with
# the floors: it needs Python >= 3.10.
rootfs_venv() {
  local name=$1 dir=$2 venv constraints=() extras=test,lint
  venv=$(rootfs_venv_dir "$name")
  # pip reaches the package index with this host's trust store (and index, if one is set).
  cp -L "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$dir/etc/jw-host-ca.crt"
  if [ "$name" = "$FLOORS_RELEASE" ]; then
    floors > "$dir/opt/jw-floors.txt"
    constraints=(-c /opt/jw-floors.txt)
    extras=test
  fi
  rootfs_run "$dir" bash -c 'extras=$1 && shift && cd /src && REPO=/src && . scripts/lib.sh &&
    ensure_venv "$0" "$@" -e "/src[$extras]"' "$venv" "$extras" "${constraints[@]}"
}
