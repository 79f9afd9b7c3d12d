/**
 * The one command runner (src/util/exec.ts) keeps a child's output byte for byte, and no other
 * execa call captures bytes without doing the same. execa strips one final newline by default,
 * for bytes too: a captured binary (an exported OpenPGP key, a tar, a DER certificate) that
 * happens to end in 0x0a loses that byte. The tilde test's exported keyring was cut so in 13 of
 * 200 fresh keys, and gpgv then found no key in it.
 */
import { execa } from 'execa';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, runBinary } from '../../src/util/exec.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** The TypeScript files under DIR, relative to the repository. */
async function sources(dir: string): Promise<string[]> {
  return (await readdir(path.join(ROOT, dir), { recursive: true })).filter((name) => name.endsWith('.ts')).map((name) => path.join(dir, name));
}

describe('child output, byte for byte', () => {
  it('run and runBinary keep a final newline, of text and of bytes', async () => {
    expect([...(await runBinary('printf', ['ab\\n'], { purpose: 'test' }))]).toEqual([0x61, 0x62, 0x0a]);
    expect((await run('printf', ['ab\\n'], { purpose: 'test' })).stdout).toBe('ab\n');
    // What execa does unasked, which is why the runner says otherwise.
    expect((await execa('printf', ['ab\\n'], { encoding: 'buffer' })).stdout.length).toBe(2);
  });

  it('every other execa call that captures bytes says stripFinalNewline: false (or sends stdout elsewhere)', async () => {
    const offenders: string[] = [];
    for (const file of [...(await sources('src')), ...(await sources('test'))]) {
      if (file === 'test/util/exec.test.ts') continue;
      const lines = (await readFile(path.join(ROOT, file), 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (!line.includes("encoding: 'buffer'")) return;
        if (/stripFinalNewline: false|stdout: descriptor\(|stdout: 'ignore'/.test(line)) return;
        offenders.push(`${file}:${i + 1}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
