/** Ollama: the server and its bundled libraries, run as a unit with models under /var/lib/ollama. */
import type { Recipe } from '../recipe.js';

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

export const ollama: Recipe = {
  name: 'ollama',
  description: 'the Ollama LLM server',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  versionPattern: /^v?\d+\.\d+\.\d+$/,
  versionExample: 'v0.3.9',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    const base = `https://github.com/ollama/ollama/releases/download/v${version.replace(/^v/, '')}`;
    return [{ id: 'ollama', url: `${base}/ollama-linux-${a}.tgz`, checksum: { url: `${base}/sha256sum.txt`, format: 'sha256sum' }, extract: 'tgz' }];
  },
  async install(ctx) {
    await ctx.source('ollama', 'bin/ollama');
    // The tarball holds bin/ and lib/ollama/ for a /usr/local prefix.
    await ctx.installTree(ctx.dir('ollama'), 'usr/local');
    await ctx.unit('ollama.service', OLLAMA_SERVICE);
    await ctx.upholds('multi-user.target', 'ollama.service');
  },
};
