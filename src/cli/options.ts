import { Option } from 'commander';
import {
  DEFAULT_BAKERY_URL,
  DEFAULT_INSTALL_TO,
  DEFAULT_RELEASE_SERVER,
  DEFAULT_RELEASES_JSON,
  DEFAULT_SIGNING_KEY,
} from '../defaults.js';

/**
 * Every bake option, declared once (name, help, default): the bake command,
 * the demo and the docs all read this list.
 */
export function bakeOptions(): Option[] {
  return [
    new Option('--fetch', "download each FILE and NAME.conf from the bakery; each .raw is checked against the bakery's SHA256SUMS"),
    new Option('--vendor <list>', 'comma-separated vendor ids (`flatbake vendors` lists them); generic = the plain image').default('generic'),
    new Option('--arch <arch>', 'x86-64 or arm64 (aliases amd64, x86_64, aarch64)').default('x86-64'),
    new Option('--release <release>', 'alpha, beta, stable, lts, or a version MMMM.m.p').default('stable'),
    new Option('--install-to <part:dir>', 'root or oem, then an absolute dir (alias --install_to)').default(DEFAULT_INSTALL_TO),
    new Option('--install_to <part:dir>').hideHelp(),
    new Option('--output <dir>', 'where results are written').default('.'),
    new Option('--release-server <url>', 'base of release files; {channel} is replaced; files at <base>/<board>/<version>/<file>').default(DEFAULT_RELEASE_SERVER),
    new Option('--releases-json <url>', 'the channel/version index').default(DEFAULT_RELEASES_JSON),
    new Option('--signing-key <file-or-url>', 'the OpenPGP public key that signs releases').default(DEFAULT_SIGNING_KEY),
    new Option('--bakery-url <url>', 'where --fetch finds sysexts, NAME.conf and SHA256SUMS').default(DEFAULT_BAKERY_URL),
    new Option('--oem-sysext <file>', "a vendor's OEM sysext, named oem-<id>.raw (repeatable); default: fetched and signature-checked from beside the image").argParser(
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    ),
    new Option('--no-oem-sysext', "write vendor images without their OEM sysext when it cannot be had (warns: the image lacks the cloud's agents)"),
    new Option('--mirror <url>', 'air-gapped mirror: every https://HOST/PATH is fetched as <url>/HOST/PATH'),
    new Option('--image <file>', 'use a local base image (.bin or .bin.bz2) instead of downloading one (not signature-checked)'),
    new Option('--cache-dir <dir>', 'cache of verified downloads and decompressed base images (default $XDG_CACHE_HOME/flatbake, else ~/.cache/flatbake)'),
    new Option('--no-cache', 'neither read nor write the cache'),
    new Option('--backend <backend>', 'how partitions are edited: offline (e2fsprogs/btrfs-progs on the image file, no root), mount (loop devices, root or sudo), auto (offline when its tools are here)').default('auto'),
    new Option('--retries <n>', 'download retries after a failed attempt (connection errors, 5xx)').default('5'),
    new Option('--full-digest', 'also record the plain SHA-256 of the baked .bin in the manifest (reads all 8 GiB: several seconds; the default chunked digest reads only data)'),
    new Option('--sysupdate', 'also wire updates: enable systemd-sysupdate.timer, install /etc/sysupdate.d/noop.conf and a systemd-sysupdate.service drop-in per sysext (each needs its NAME.conf)'),
    new Option('--json', 'print the result manifest as JSON on stdout (progress stays on stderr)'),
    new Option('--insecure-skip-verify', 'DANGEROUS: do not check the release signatures (warns loudly)'),
  ];
}
