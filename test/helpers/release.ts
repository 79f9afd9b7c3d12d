import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { buildSyntheticRelease, type BuildSyntheticReleaseOptions, type SyntheticRelease } from '../../src/demo/synthetic-release.js';

export interface ServedRelease {
  release: SyntheticRelease;
  server: StaticServer;
  /** Scratch dir holding the release; removed by close(). */
  dir: string;
  /** The bake options that point flatbake at this server. */
  args(extra?: { cacheDir?: string; output?: string }): string[];
  close(): Promise<void>;
}

/** Builds a small synthetic release (real layout, throwaway key) and serves it on 127.0.0.1. */
export async function serveSyntheticRelease(options: Partial<BuildSyntheticReleaseOptions> = {}): Promise<ServedRelease> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-e2e-'));
  const release = await buildSyntheticRelease({
    root: path.join(dir, 'www'),
    sysexts: [
      { name: 'hello', version: '1.0.0', arch: 'x86-64' },
      { name: 'wasmtime', version: '24.0.0', arch: 'x86-64' },
    ],
    ...options,
  });
  const server = await serveStatic(release.root);
  return {
    release,
    server,
    dir,
    args: (extra = {}) => [
      '--release-server', `${server.url}/{channel}`,
      '--releases-json', `${server.url}/releases.json`,
      '--signing-key', `${server.url}/key.asc`,
      '--bakery-url', `${server.url}/extensions`,
      ...(extra.cacheDir ? ['--cache-dir', extra.cacheDir] : ['--no-cache']),
      ...(extra.output ? ['--output', extra.output] : []),
    ],
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A copy of the served tree, for tests that tamper with files. */
export async function copyTree(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true, verbatimSymlinks: true });
}
