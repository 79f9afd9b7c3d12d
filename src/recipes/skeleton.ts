/**
 * The commented recipe file `flatbake sysext recipe new <name>` writes: every key of the format
 * with a line on what it does, for a program that ships one tarball per architecture. It passes
 * the schema as it is (a test checks), so a user edits a working file instead of a blank one.
 */

export function recipeSkeleton(name: string): string {
  return `# ${name}: a flatbake recipe. Build it with
#   flatbake sysext build --recipes-dir <this directory> ${name} 1.2.3 --arch x86-64
# The format is described in flatbake's README ("Recipe files") and checked against
# schemas/recipe.schema.json; \`flatbake sysext recipes --show <name>\` prints the built-in ones.
#
# Text values may use {version}, {version_number} (the version without a leading v),
# {arch} (the upstream's name for the architecture, from "arches"), {sysext_arch}
# (x86-64 or arm64), {option.NAME} and {var.NAME}.

# The extension name: extension-release.${name}, output ${name}-<version>-<arch>.raw.
name: ${name}
description: what ${name} is, in a few words
# The architectures offered, each with the name the upstream uses in its file names.
arches: { x86-64: amd64, arm64: arm64 }
# extension-release ID=: _any (any OS), or flatcar (then SYSEXT_LEVEL=1.0 is added too).
os: _any
# EXTENSION_RELOAD_MANAGER=1: true when the image ships units systemd must see right away.
reload: true
version:
  # A regular expression every version must match, and an example of one.
  pattern: '^v\\d+\\.\\d+\\.\\d+$'
  example: v1.2.3
  # Versions you have built this recipe for (shown in listings).
  known: [v1.2.3]

# Options users give with --option KEY=VALUE; use them as {option.KEY} or in a "when".
# options:
#   with-extras:
#     description: also ship the extras of this version
#     pattern: '^v\\d+\\.\\d+\\.\\d+$'
#     default: v1.0.0

# Values that differ by architecture beyond the upstream name: {var.NAME}.
# vars:
#   suffix: { x86-64: '', arm64: '-aarch64' }

downloads:
  # id: how install steps refer to it. extract: tar.gz, tgz, tar.bz2, tar.xz, tar.zst, zip or none.
  - id: ${name}
    url: https://example.com/releases/download/{version}/${name}-linux-{arch}.tar.gz
    extract: tar.gz
    # Where the upstream publishes digests: sha256sum (<hex>  <file> lines), bare (just the
    # digest) or github-release (the GitHub API's release JSON). Or pin one: sha256: <64 hex>.
    checksum: { url: 'https://example.com/releases/download/{version}/SHA256SUMS', format: sha256sum }
    # A "when" picks downloads and steps by version range, architecture or option, e.g. when an
    # upstream changed its file names: when: { version: '>=2.0.0' }  (also arch:, option:, no_option:)

# Steps, in order; destinations are inside the image and must be under usr/ or opt/.
install:
  # copy: ID (the downloaded file itself) or ID:PATH (a member of its unpacked archive).
  - { copy: '${name}:${name}', to: usr/bin/${name}, mode: '0755' }
  # tree: copy a whole directory of an archive, keeping modes and symlinks.
  # - { tree: '${name}:share', to: usr/share/${name} }
  # link: a symlink; a relative target must exist in the image (or say optional: true).
  # - { link: ../../opt/${name}/bin/${name}, to: usr/bin/${name} }
  # write: a file with this content (default mode 0644).
  - write: usr/lib/tmpfiles.d/10-${name}.conf
    content: |
      d /var/lib/${name} 0700 root root - -
  # unit: a unit in usr/lib/systemd/system; dropin: UNIT/FILE.conf next to it.
  - unit: ${name}.service
    content: |
      [Unit]
      Description=${name}
      After=network-online.target
      Wants=network-online.target

      [Service]
      ExecStart=/usr/bin/${name}
      Restart=on-failure

      [Install]
      WantedBy=multi-user.target
  # upholds: start the unit whenever multi-user.target (or target: ...) is active.
  - upholds: ${name}.service
  # remove: leave out something an earlier step put in (e.g. an uninstall script from a tree).
  #- remove: usr/bin/${name}-uninstall.sh
`;
}
