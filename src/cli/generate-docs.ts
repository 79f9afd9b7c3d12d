/**
 * `npm run docs`: writes what is derived from the settings declarations into the checkout
 * (the README's option table). Tests compare the checked-in text with a fresh rendering.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { updateReadme } from './docs.js';

const repo = path.resolve(new URL('../..', import.meta.url).pathname);
const readmePath = path.join(repo, 'README.md');
const readme = await readFile(readmePath, 'utf8');
const updated = updateReadme(readme, 'bake');
if (updated !== readme) await writeFileAtomic(readmePath, updated);
process.stdout.write(`${path.relative(process.cwd(), readmePath) || readmePath}: ${updated === readme ? 'up to date' : 'updated'}\n`);
