/** Ollama: the server and its bundled libraries, run as a unit with models under /var/lib/ollama. */
import type { ArchiveKind, Recipe } from '../recipe.js';
import { forVersion, type VersionRange } from '../versions.js';

const OLLAMA_SERVICE = `[Unit]
Description=Ollama
Documentation=https://github.com/ollama/ollama/tree/main/docs
Wants=network-online.target
After=network-online.target

[Service]
Environment="HOME=/var/lib/ollama"
Environment="OLLAMA_MODELS=/var/lib/ollama/models"
Environment="OLLAMA_RUNNERS_DIR=/var/lib/ollama/runners"
ExecStart=/usr/local/bin/ollama serve
Restart=always

[Install]
WantedBy=multi-user.target
`;

/**
 * The release asset by version: ollama-linux-<arch>.tgz up to 0.13.x, .tar.zst from 0.14.0 on
 * (the bakery's ollama.sysext/create.sh switches at v0.14.0). Both hold bin/ and lib/ollama/ for a
 * /usr/local prefix, and sha256sum.txt lists them as `./<file>`.
 */
const ASSETS: readonly VersionRange<{ suffix: string; extract: ArchiveKind }>[] = [
  { suffix: 'tgz', extract: 'tgz' },
  { since: '0.14.0', suffix: 'tar.zst', extract: 'tar.zst' },
];

export const ollama: Recipe = {
  name: 'ollama',
  description: 'the Ollama LLM server',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  versionPattern: /^v?\d+\.\d+\.\d+$/,
  versionExample: 'v0.14.0',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    const base = `https://github.com/ollama/ollama/releases/download/v${version.replace(/^v/, '')}`;
    const { suffix, extract } = forVersion(ASSETS, version);
    return [{ id: 'ollama', url: `${base}/ollama-linux-${a}.${suffix}`, checksum: { url: `${base}/sha256sum.txt`, format: 'sha256sum' }, extract }];
  },
  async install(ctx) {
    await ctx.source('ollama', 'bin/ollama');
    await ctx.installTree(ctx.dir('ollama'), 'usr/local');
    await ctx.unit('ollama.service', OLLAMA_SERVICE);
    await ctx.upholds('multi-user.target', 'ollama.service');
  },
};
