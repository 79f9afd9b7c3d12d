#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for flatbake: host tools, npm dependencies, build.
# Idempotent: rerunning it only installs what is missing. Runs as root, or uses sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages of the host tools flatbake runs (see `flatbake doctor`) and its tests use.
PACKAGES=(
  util-linux mount coreutils      # losetup, mount, cp --sparse
  e2fsprogs btrfs-progs dosfstools mtools squashfs-tools erofs-utils
  gdisk                           # sgdisk: synthetic releases, GPT checks in tests
  qemu-utils                      # qemu-img: vendor disk formats
  gnupg                           # signature checks
  lbzip2 bzip2                    # parallel and plain bzip2
  binutils file cpio xz-utils zstd
  unzip                           # recipes whose upstream ships zips (consul, nomad, vault)
  ovmf xorriso isolinux syslinux-common   # vendor images: qemu_uefi firmware, the iso vendor
  patchelf bubblewrap                     # flix, flatwrap, oci-rootfs --run
  gpgv debian-archive-keyring             # Debian packages (tilde recipe, bootable synthetic release): bookworm's signed InRelease, checked against Debian's keys
  fakeroot                                # the offline backend as non-root: rebuilt btrfs stays root-owned
  eatmydata                               # the offline backend: debugfs without fsyncing the work image
  build-essential                         # recipes that build from source (keepalived, chrony, bird, haproxy)
  bison flex m4 libreadline-dev libncurses-dev   # bird's build (its parser; static readline and ncurses for birdc)
  liblua5.4-dev libcap-dev zlib1g-dev     # haproxy's build (static Lua, libcap, zlib; with libssl-dev and libpcre2-dev)
  # keepalived with the bakery's flags: --enable-regex (static libpcre2-8), --enable-libnl-dynamic
  # (libnl headers), OpenSSL (static libssl); pkg-config finds them and the static libmnl/libnftnl
  # the recipe builds first
  pkgconf libpcre2-dev libnl-3-dev libnl-genl-3-dev libssl-dev
  qemu-system-x86                         # flatbake boot (and its tests, under TCG)
  grub-common grub-efi-amd64-bin          # the bootable synthetic release's UEFI GRUB (grub-mkimage, modules)
  groff-base                              # tests only: groff checks the man page (flatbake man)
  # tests only: a real registry, a busybox rootfs, jq for flix, xmllint for OVFs, arm64 cross builds
  docker-registry busybox-static jq libxml2-utils gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  zip                             # tests only: HashiCorp-shaped zip fixtures
  sbsigntool systemd-boot-efi     # tests only: a signed unified kernel image boots the qemu_uefi_secure variables under Secure Boot
  musl musl-tools                 # tests only: the btop recipe's stand-in Alpine packages (musl loader, musl-gcc)
)

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

missing=()
# npm runs on the host's Node.js; where there is none, Debian's nodejs and npm only run npm, and
# flatbake runs on the Node.js that `npm ci` installs below.
command -v npm >/dev/null || missing+=(nodejs npm)
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # A fresh machine's package lists are empty.
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: host packages already installed"
fi

# flatbake needs Node.js >= 22.19 (undici 8). The host's may be older (Debian 12 ships 18, many
# machines still have 20), so the npm registry's `node` package is a devDependency: `npm ci` puts a
# Node.js 24 LTS at node_modules/.bin/node, which every npm script and `npx` find first on PATH.
echo "setup: npm ci"
npm ci --no-audit --no-fund --loglevel=error
if ! node_modules/.bin/node -e '
  const [a, b] = process.versions.node.split(".").map(Number);
  process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1);'; then
  echo "setup: node_modules/.bin/node is not Node.js >= 22.19; did npm ci run the node package's install script?" >&2
  exit 1
fi
echo "setup: Node.js $(node_modules/.bin/node --version) for npm scripts and npx (host: $(node --version 2>/dev/null || echo none))"
echo "setup: build"
npm run --silent build
# The loop module is needed for baking; load it where it is not built in (errors are fine in containers).
[ -e /dev/loop-control ] || "${SUDO[@]}" modprobe loop 2>/dev/null || true
echo "setup: done. Try: npx flatbake doctor && npx flatbake demo"
