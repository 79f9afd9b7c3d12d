import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { noopTransfer, sysupdateTransfer } from '../../src/bakery-release/sysupdate.js';
import { parse as parseYaml } from 'yaml';
import {
  buildProvisioningConfig,
  butaneCommand,
  encodeDataUrl,
  renderButane,
  renderIgnition,
  type ProvisioningConfig,
  type ProvisioningOptions,
} from '../../src/butane/butane.js';
import { UsageError } from '../../src/errors.js';
import { ignitionValidator, loadIgnitionSchema, type IgnitionValidator } from './ignition-schema.js';

const BAKERY = 'https://extensions.flatcar.org/extensions';
const WASMTIME = { name: 'wasmtime', file: 'wasmtime-24.0.0-x86-64.raw' };
const K3S = { name: 'k3s', file: 'k3s-v1.29.2+k3s1-x86-64.raw' };
/** Digests as the bakery's SHA256SUMS lists them (made-up values of the real shape). */
const DIGESTS = new Map([
  [WASMTIME.file, 'a'.repeat(64)],
  [K3S.file, 'b'.repeat(64)],
]);
/** Transfers as fetched from the bakery (shortened; their text is carried over unchanged). */
const TRANSFERS = new Map([
  ['noop.conf', '[Source]\nType=regular-file\nPath=/\nMatchPattern=invalid@v.raw\n'],
  ['wasmtime.conf', '[Target]\nPath=/opt/extensions/wasmtime\n'],
  ['k3s.conf', '[Target]\nPath=/opt/extensions/k3s\n'],
]);
type TestOptions = Omit<ProvisioningOptions, 'digests'> & { digests?: ProvisioningOptions['digests'] };
const provision = (options: TestOptions) => buildProvisioningConfig({ digests: DIGESTS, transfers: TRANSFERS, ...options });

/** Decodes a `data:` URL independently of the encoder under test (RFC 2397). */
function decodeDataUrl(url: string): Buffer {
  const match = /^data:([^,]*),(.*)$/s.exec(url);
  if (!match) throw new Error(`not a data URL: ${url}`);
  const [, meta, payload] = match as unknown as [string, string, string];
  if (meta.endsWith(';base64')) return Buffer.from(payload, 'base64');
  const bytes: number[] = [];
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] === '%') {
      bytes.push(Number.parseInt(payload.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(payload.charCodeAt(i));
    }
  }
  return Buffer.from(bytes);
}

function butane(options: Omit<TestOptions, 'sysexts'> & { sysexts?: ProvisioningOptions['sysexts'] } = {}): Record<string, any> {
  return parseYaml(renderButane(provision({ sysexts: [WASMTIME], ...options }))) as Record<string, any>;
}

const HEADER = { variant: 'flatcar', version: '1.0.0' };

const wasmtimeFile = {
  path: '/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw',
  mode: 0o644,
  contents: { source: `${BAKERY}/wasmtime-24.0.0-x86-64.raw`, verification: { hash: `sha256-${'a'.repeat(64)}` } },
};
const wasmtimeLink = {
  path: '/etc/extensions/wasmtime.raw',
  target: '/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw',
  hard: false,
};

const RESTART = { name: 'sysext.conf', contents: '[Service]\nExecStartPost=systemctl restart systemd-sysext\n' };

function sysupdateLines(name: string): string[] {
  return [
    `ExecStartPre=/usr/bin/sh -c "readlink --canonicalize /etc/extensions/${name}.raw > /tmp/${name}"`,
    `ExecStartPre=/usr/lib/systemd/systemd-sysupdate -C ${name} update`,
    `ExecStartPost=/usr/bin/sh -c "readlink --canonicalize /etc/extensions/${name}.raw > /tmp/${name}-new"`,
    `ExecStartPost=/usr/bin/sh -c "if ! cmp --silent /tmp/${name} /tmp/${name}-new; then touch /run/reboot-required; fi"`,
  ];
}

function refused(run: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a UsageError').toBeInstanceOf(UsageError);
  expect((caught as UsageError).exitCode).toBe(2);
  expect((caught as UsageError).message).toMatch(message);
}

async function refusedAsync(run: Promise<unknown>, message: RegExp): Promise<void> {
  const caught = await run.then(() => undefined, (error: unknown) => error);
  expect(caught, 'expected a UsageError').toBeInstanceOf(UsageError);
  expect((caught as UsageError).message).toMatch(message);
}

describe('Butane output, option by option', () => {
  it('one sysext: the .raw downloaded under /opt/extensions/NAME and linked as /etc/extensions/NAME.raw', () => {
    expect(butane()).toEqual({ ...HEADER, storage: { files: [wasmtimeFile], links: [wasmtimeLink] } });
  });

  it('several sysexts each get their own directory and link, in the order given', () => {
    const config = butane({ sysexts: [WASMTIME, K3S] });
    expect(config.storage.files.map((f: any) => f.path)).toEqual([
      '/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw',
      '/opt/extensions/k3s/k3s-v1.29.2+k3s1-x86-64.raw',
    ]);
    expect(config.storage.links).toEqual([
      wasmtimeLink,
      { path: '/etc/extensions/k3s.raw', target: '/opt/extensions/k3s/k3s-v1.29.2+k3s1-x86-64.raw', hard: false },
    ]);
    expect(config.storage.files[1].contents.source).toBe(`${BAKERY}/k3s-v1.29.2+k3s1-x86-64.raw`);
    expect(config.systemd).toBeUndefined();
  });

  it('--base-url replaces the bakery, with or without a trailing slash', () => {
    for (const baseUrl of ['https://mirror.example/sysexts', 'https://mirror.example/sysexts/']) {
      const config = butane({ baseUrl, sysupdate: true });
      const sources = config.storage.files.map((f: any) => f.contents.source);
      // Transfers are inline (see the model): only the image is downloaded.
      expect(sources).toEqual(['https://mirror.example/sysexts/wasmtime-24.0.0-x86-64.raw', undefined, undefined]);
    }
  });

  it('--sysupdate: transfers, noop.conf, the timer and the update drop-in', () => {
    expect(butane({ sysupdate: true })).toEqual({
      ...HEADER,
      storage: {
        files: [
          wasmtimeFile,
          { path: '/etc/sysupdate.d/noop.conf', mode: 0o644, contents: { inline: TRANSFERS.get('noop.conf') } },
          { path: '/etc/sysupdate.wasmtime.d/wasmtime.conf', mode: 0o644, contents: { inline: TRANSFERS.get('wasmtime.conf') } },
        ],
        links: [wasmtimeLink],
      },
      systemd: {
        units: [
          { name: 'systemd-sysupdate.timer', enabled: true },
          {
            name: 'systemd-sysupdate.service',
            dropins: [{ name: 'wasmtime.conf', contents: ['[Service]', ...sysupdateLines('wasmtime'), ''].join('\n') }, RESTART],
          },
        ],
      },
    });
  });

  it('--sysupdate with several sysexts: a drop-in for each, one noop.conf, one sysext restart', () => {
    const config = butane({ sysexts: [WASMTIME, K3S], sysupdate: true });
    const paths = config.storage.files.map((f: any) => f.path);
    expect(paths.filter((p: string) => p === '/etc/sysupdate.d/noop.conf')).toHaveLength(1);
    expect(paths).toContain('/etc/sysupdate.k3s.d/k3s.conf');
    expect(config.systemd.units[1].dropins).toEqual([
      { name: 'wasmtime.conf', contents: ['[Service]', ...sysupdateLines('wasmtime'), ''].join('\n') },
      { name: 'k3s.conf', contents: ['[Service]', ...sysupdateLines('k3s'), ''].join('\n') },
      RESTART,
    ]);
  });

  it('without --sysupdate there is no sysupdate file and no unit', () => {
    const text = renderButane(provision({ sysexts: [WASMTIME] }));
    expect(text).not.toMatch(/sysupdate/);
  });

  it('--replace-docker: masks docker-flatcar and containerd-flatcar (and the old Torcx generator)', () => {
    const config = butane({ replaceDocker: true });
    expect(config.storage.links).toEqual([
      wasmtimeLink,
      { path: '/etc/extensions/docker-flatcar.raw', target: '/dev/null', hard: false, overwrite: true },
      { path: '/etc/extensions/containerd-flatcar.raw', target: '/dev/null', hard: false, overwrite: true },
    ]);
    expect(config.storage.files).toEqual([wasmtimeFile, { path: '/etc/systemd/system-generators/torcx-generator', mode: 0o644 }]);
  });

  it('--enable: multi-user.target.wants links for the units the README enables', () => {
    const units = ['k3s.service', 'k3s-agent.service', 'rke2-server.service', 'rke2-agent.service', 'tailscaled.service'];
    const config = butane({ enable: units });
    expect(config.storage.links.slice(1)).toEqual(
      units.map((unit) => ({
        path: `/etc/systemd/system/multi-user.target.wants/${unit}`,
        target: `/usr/lib/systemd/system/${unit}`,
        hard: false,
        overwrite: true,
      })),
    );
  });

  it('--enable completes a bare name to .service, dedupes, and links instances to their template', () => {
    const config = butane({ enable: ['k3s', 'k3s.service', 'getty@tty1.service', 'fstrim.timer'] });
    expect(config.storage.links.slice(1).map((l: any) => [l.path, l.target])).toEqual([
      ['/etc/systemd/system/multi-user.target.wants/k3s.service', '/usr/lib/systemd/system/k3s.service'],
      ['/etc/systemd/system/multi-user.target.wants/getty@tty1.service', '/usr/lib/systemd/system/getty@.service'],
      ['/etc/systemd/system/multi-user.target.wants/fstrim.timer', '/usr/lib/systemd/system/fstrim.timer'],
    ]);
  });

  it('unitDir points the --enable links where the bakery k3s/rke2/tailscale units live', () => {
    const config = butane({ enable: ['tailscaled.service'], unitDir: '/usr/local/lib/systemd/system/' });
    expect(config.storage.links[1].target).toBe('/usr/local/lib/systemd/system/tailscaled.service');
  });

  it('all options together keep each part', () => {
    const config = butane({ sysexts: [WASMTIME, K3S], sysupdate: true, replaceDocker: true, enable: ['k3s'] });
    expect(config.storage.files).toHaveLength(2 + 1 + 2 + 1);
    expect(config.storage.links).toHaveLength(2 + 2 + 1);
    expect(config.systemd.units.map((u: any) => u.name)).toEqual(['systemd-sysupdate.timer', 'systemd-sysupdate.service']);
  });

  it('writes modes as decimal with the octal form in a comment, drop-ins as literal blocks', () => {
    const text = renderButane(provision({ sysexts: [WASMTIME], sysupdate: true }));
    expect(text).toMatch(/^ {6}mode: 420 # 0644$/m);
    expect(text).toMatch(/^ {10}contents: \|\n {12}\[Service\]$/m);
    expect(text).toMatch(/^variant: flatcar\nversion: 1\.0\.0$/m);
  });
});

describe('Ignition output', () => {
  let validator: IgnitionValidator;
  beforeAll(() => {
    validator = ignitionValidator();
  });

  const cases: Array<[string, TestOptions]> = [
    ['one sysext', { sysexts: [WASMTIME] }],
    ['--sysupdate', { sysexts: [WASMTIME, K3S], sysupdate: true }],
    ['--replace-docker', { sysexts: [WASMTIME], replaceDocker: true }],
    ['--enable', { sysexts: [K3S], enable: ['k3s', 'k3s-agent', 'getty@tty1.service'] }],
    ['--base-url', { sysexts: [WASMTIME], baseUrl: 'http://10.0.0.1:8080/bakery/' }],
    ['everything', { sysexts: [WASMTIME, K3S], sysupdate: true, replaceDocker: true, enable: ['k3s'], unitDir: '/usr/local/lib/systemd/system' }],
  ];

  it.each(cases)('%s: valid against the published Ignition 3.3 schema, no undeclared keys', (_, options) => {
    const config = JSON.parse(renderIgnition(provision(options)));
    expect(config.ignition).toEqual({ version: '3.3.0' });
    expect(validator.schemaErrors(config)).toEqual([]);
    expect(validator.undeclaredKeys(config)).toEqual([]);
  });

  it.each(cases)('%s: the same files, links and units as the Butane config', (_, options) => {
    const model = provision(options);
    const ign = JSON.parse(renderIgnition(model));
    const bu = parseYaml(renderButane(model)) as Record<string, any>;
    // What Butane would translate: files and links carry over as they are (inline contents
    // become data URLs), units keep name/enabled/dropins.
    const files = (bu.storage?.files ?? []).map((f: any) => ({
      path: f.path,
      mode: f.mode,
      ...(f.contents ? { source: f.contents.source ?? `inline:${f.contents.inline}` } : {}),
    }));
    const ignFiles = (ign.storage?.files ?? []).map((f: any) => ({
      path: f.path,
      mode: f.mode,
      ...(f.contents
        ? { source: f.contents.source.startsWith('data:') ? `inline:${decodeDataUrl(f.contents.source).toString('utf8')}` : f.contents.source }
        : {}),
    }));
    expect(ignFiles).toEqual(files);
    expect(ign.storage?.links ?? []).toEqual(bu.storage?.links ?? []);
    expect(ign.storage.links.every((l: any) => l.hard === false)).toBe(true);
    expect(ign.systemd?.units ?? []).toEqual(bu.systemd?.units ?? []);
    expect(ign.storage.directories).toBeUndefined();
  });

  it('the checks catch what they are there for (wrong types, misspelt keys)', () => {
    const bad = {
      ignition: { version: '3.3.0' },
      storage: { files: [{ path: '/x', mode: '0644', contents: { sources: 'https://h/x' } }], links: [{ target: '/y', hard: 'no' }] },
      systemd: { units: [{ name: 'a.service', dropin: [] }] },
    };
    const errors = validator.schemaErrors(bad);
    expect(errors.join('\n')).toMatch(/files\/0\/mode must be integer/);
    expect(errors.join('\n')).toMatch(/links\/0 must have required property 'path'/);
    expect(errors.join('\n')).toMatch(/links\/0\/hard must be boolean/);
    expect(validator.undeclaredKeys(bad)).toEqual(['$.storage.files[0].contents.sources', '$.systemd.units[0].dropin']);
  });

  it('a missing schema fails with a message that says where it was looked for', () => {
    expect(() => loadIgnitionSchema(new URL('../fixtures/ignition-schemas/no-such.schema.json', import.meta.url))).toThrow(
      /Ignition 3\.3 schema not found at .*no-such\.schema\.json: it belongs in test\/fixtures\/ignition-schemas\//,
    );
  });

  it('inline file contents become percent-encoded data URLs that decode to the original', () => {
    const text = 'ID=flatcar\n# 100% "quoted", spaced, ünïcødé & <tags>\n';
    const model: ProvisioningConfig = {
      files: [{ path: '/etc/flatbake-test.conf', mode: 0o600, contents: { inline: text } }],
      links: [],
      units: [],
    };
    const ign = JSON.parse(renderIgnition(model));
    const source: string = ign.storage.files[0].contents.source;
    expect(source.startsWith('data:,')).toBe(true);
    expect(source.slice('data:,'.length)).toMatch(/^[A-Za-z0-9\-._~%]*$/);
    expect(decodeDataUrl(source).toString('utf8')).toBe(text);
    expect(ign.storage.files[0].mode).toBe(384);
    expect(validator.schemaErrors(ign)).toEqual([]);
    const bu = parseYaml(renderButane(model)) as Record<string, any>;
    expect(bu.storage.files[0]).toEqual({ path: '/etc/flatbake-test.conf', mode: 384, contents: { inline: text } });
  });
});

describe('data URL encoding', () => {
  it('round-trips every byte value', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const url = encodeDataUrl(bytes);
    expect(url).toMatch(/^data:,[A-Za-z0-9\-._~%]*$/);
    expect([...decodeDataUrl(url)]).toEqual([...bytes]);
  });

  it('round-trips text, including the characters a URL or YAML would trip over', () => {
    for (const text of ['', 'plain', 'a b\tc\r\n', '%41 is not A', 'x,y;z=1#frag?q&r', '[Service]\nExecStart=/bin/true\n', '🚀 ẞ 中文']) {
      expect(decodeDataUrl(encodeDataUrl(text)).toString('utf8')).toBe(text);
      expect(decodeURIComponent(encodeDataUrl(text).slice('data:,'.length))).toBe(text);
    }
  });

  it('keeps unreserved characters readable', () => {
    expect(encodeDataUrl('Hello-World_1.0~ok')).toBe('data:,Hello-World_1.0~ok');
    expect(encodeDataUrl('a b\n')).toBe('data:,a%20b%0A');
  });
});

describe('refusals', () => {
  const build = (options: Partial<TestOptions>) => () => provision({ sysexts: [WASMTIME], ...options });

  it.each(['', '-x', '.hidden', '..', '../etc', 'a/b', 'a b', 'a;b', 'a$b', 'a%b', 'ä'])('bad NAME %j', (name) => {
    refused(build({ sysexts: [{ name, file: 'x-1-x86-64.raw' }] }), /bad sysext name/);
  });

  it.each([
    '../../etc/shadow.raw',
    'a/b.raw',
    '/abs.raw',
    'x..raw',
    '..raw',
    '.raw',
    'docker.conf',
    'docker.raw.gz',
    'has space.raw',
    '%2e%2e.raw',
    'a\\b.raw',
    'x.raw\n',
  ])('bad FILE %j', (file) => {
    refused(build({ sysexts: [{ name: 'docker', file }] }), /bad file name/);
  });

  // Before anything is fetched: the base URL here answers nothing.
  const offline = { baseUrl: 'http://127.0.0.1:9/none' };
  it('refuses arguments that are not NAME:FILE', async () => {
    for (const arg of ['wasmtime', ':x.raw', 'wasmtime:', 'wasmtime-24.0.0-x86-64.raw']) {
      await refusedAsync(butaneCommand([arg], offline), /is not NAME:FILE/);
    }
    await refusedAsync(butaneCommand(['a:b:c.raw'], offline), /bad file name 'b:c.raw'/);
  });

  it('refuses no sysexts, the same NAME twice and a bad --enable before fetching', async () => {
    await refusedAsync(butaneCommand([], offline), /no sysexts/);
    await refusedAsync(butaneCommand(['a:a-1.raw', 'a:a-2.raw'], offline), /given twice/);
    await refusedAsync(butaneCommand(['a:a-1.raw'], { ...offline, enable: ['x.device'] }), /bad unit name/);
    await refusedAsync(butaneCommand(['sysext:s-1.raw'], { ...offline, sysupdate: true }), /sysext\.conf/);
  });

  it('refuses a sysext that would collide with the --replace-docker masks', () => {
    refused(build({ sysexts: [{ name: 'docker-flatcar', file: 'docker-27.raw' }], replaceDocker: true, digests: new Map([['docker-27.raw', 'c'.repeat(64)]]) }), /two entries would write \/etc\/extensions\/docker-flatcar\.raw/);
  });

  it.each([
    ['not a url', /is not a URL/],
    ['ftp://host/dir', /cannot fetch/],
    ['data:,x', /cannot fetch/],
    ['file:///srv/bakery', /cannot fetch/],
    ['https://host/dir?token=1', /query or fragment/],
    ['https://host/dir#x', /query or fragment/],
  ])('bad --base-url %j', (baseUrl, message) => {
    refused(build({ baseUrl }), message);
  });

  it.each([
    '../../etc/passwd',
    'a/b.service',
    'foo.device',
    'session-1.scope',
    'x;reboot.service',
    'x y.service',
    'foo%i.service',
    'foo@.service',
    'a@b@c.service',
    `${'a'.repeat(250)}.service`,
  ])('bad --enable unit %j', (unit) => {
    refused(build({ enable: [unit] }), /unit|template/);
  });

  it.each(['relative/dir', '/usr/../etc', '/usr/./lib', '/', '/usr/lib/systemd system'])('bad unit directory %j', (unitDir) => {
    refused(build({ enable: ['k3s'], unitDir }), /plain absolute directory/);
  });
});

describe('butaneCommand against a served bakery', () => {
  let dir: string;
  let server: StaticServer;
  let base: string;
  const raws = { [WASMTIME.file]: 'wasmtime image bytes', [K3S.file]: 'k3s image bytes' };
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');

  beforeAll(async () => {
    // The bakery's layout (FLATCAR.md / bakery README "Releases structure"): images, NAME.conf,
    // noop.conf and a SHA256SUMS that lists the images only.
    dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-butane-'));
    await mkdir(path.join(dir, 'extensions'));
    for (const [file, body] of Object.entries(raws)) await writeFile(path.join(dir, 'extensions', file), body);
    await writeFile(path.join(dir, 'extensions', 'SHA256SUMS'), Object.entries(raws).map(([f, b]) => `${sha(b)}  ${f}\n`).join(''));
    await writeFile(path.join(dir, 'extensions', 'noop.conf'), noopTransfer());
    await writeFile(path.join(dir, 'extensions', 'wasmtime.conf'), sysupdateTransfer({ recipe: 'wasmtime', matchPattern: 'wasmtime-@v-%a.raw', baseUrl: 'https://extensions.flatcar.org/extensions/wasmtime/' }));
    server = await serveStatic(dir);
    base = `${server.url}/extensions`;
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints Butane YAML by default and Ignition JSON with --ignition; every download carries its SHA256SUMS digest', async () => {
    const args = ['wasmtime:wasmtime-24.0.0-x86-64.raw'];
    const yamlConfig = parseYaml(await butaneCommand(args, { sysupdate: true, baseUrl: base })) as Record<string, any>;
    expect(yamlConfig).toMatchObject({ variant: 'flatcar', version: '1.0.0' });
    const json = JSON.parse(await butaneCommand(args, { sysupdate: true, ignition: true, baseUrl: base }));
    expect(json.ignition.version).toBe('3.3.0');
    for (const config of [yamlConfig, json]) {
      const remote = config.storage.files.filter((f: any) => f.contents?.source?.startsWith('http'));
      expect(remote).toEqual([
        { path: '/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw', mode: 0o644, contents: { source: `${base}/wasmtime-24.0.0-x86-64.raw`, verification: { hash: `sha256-${sha(raws[WASMTIME.file]!)}` } } },
      ]);
    }
    // The transfers are carried inline, exactly as the bakery serves them.
    const inline = Object.fromEntries(yamlConfig.storage.files.filter((f: any) => f.contents?.inline).map((f: any) => [f.path, f.contents.inline]));
    expect(inline).toEqual({
      '/etc/sysupdate.d/noop.conf': await readFile(path.join(dir, 'extensions', 'noop.conf'), 'utf8'),
      '/etc/sysupdate.wasmtime.d/wasmtime.conf': await readFile(path.join(dir, 'extensions', 'wasmtime.conf'), 'utf8'),
    });
    expect(ignitionValidator().schemaErrors(json)).toEqual([]);
  });

  it('the digest is what sha256sum says of the served file', async () => {
    const json = JSON.parse(await butaneCommand(['k3s:k3s-v1.29.2+k3s1-x86-64.raw'], { ignition: true, baseUrl: `${base}/` }));
    const { stdout } = await execa('sha256sum', [path.join(dir, 'extensions', K3S.file)]);
    expect(json.storage.files[0].contents.verification.hash).toBe(`sha256-${stdout.split(' ')[0]}`);
  });

  it('is deterministic and ends with a newline', async () => {
    const run = () => butaneCommand(['k3s:k3s-v1.29.2+k3s1-x86-64.raw'], { replaceDocker: true, enable: ['k3s'], baseUrl: base });
    expect(await run()).toBe(await run());
    expect((await run()).endsWith('\n')).toBe(true);
  });

  it('refuses a file SHA256SUMS does not list, and --sysupdate without the transfer', async () => {
    await expect(butaneCommand(['x:x-1-x86-64.raw'], { baseUrl: base })).rejects.toThrow(/x-1-x86-64\.raw is not listed in the bakery's SHA256SUMS/);
    await expect(butaneCommand(['k3s:k3s-v1.29.2+k3s1-x86-64.raw'], { baseUrl: base, sysupdate: true })).rejects.toThrow(/k3s\.conf/);
  });

  it('passes --unit-dir through', async () => {
    const json = JSON.parse(await butaneCommand(['k3s:k3s-v1.29.2+k3s1-x86-64.raw'], { ignition: true, baseUrl: base, enable: ['k3s'], unitDir: '/usr/local/lib/systemd/system' }));
    expect(json.storage.links[1].target).toBe('/usr/local/lib/systemd/system/k3s.service');
  });

  it('--for-image: the updates of a baked image, from its manifest, downloading nothing', async () => {
    // The sysexts part of a manifest as a bake writes it (see test/e2e/bake.test.ts).
    const manifestFile = path.join(dir, 'flatbake-manifest.json');
    await writeFile(
      manifestFile,
      JSON.stringify({
        sysexts: [
          { name: 'hello', fileName: 'hello-1.0.0-x86-64.raw', sysupdateConf: '/etc/sysupdate.hello.d/hello.conf' },
          { name: 'local', fileName: 'local.raw' },
        ],
      }),
    );
    const before = server.requests.length;
    const json = JSON.parse(await butaneCommand([], { forImage: manifestFile, ignition: true }));
    expect(server.requests.length).toBe(before);
    expect(ignitionValidator().schemaErrors(json)).toEqual([]);
    expect(json.storage.files).toEqual([{ path: '/etc/sysupdate.d/noop.conf', mode: 0o644, contents: { source: encodeDataUrl(noopTransfer()) } }]);
    expect(json.storage.links).toBeUndefined();
    expect(json.systemd.units).toEqual([
      { name: 'systemd-sysupdate.timer', enabled: true },
      { name: 'systemd-sysupdate.service', dropins: [{ name: 'hello.conf', contents: ['[Service]', ...sysupdateLines('hello'), ''].join('\n') }, RESTART] },
    ]);
    await writeFile(manifestFile, JSON.stringify({ sysexts: [{ name: 'local', fileName: 'local.raw' }] }));
    await expect(butaneCommand([], { forImage: manifestFile })).rejects.toThrow(/no sysext in this image has a sysupdate transfer/);
    await expect(butaneCommand(['a:a.raw'], { forImage: manifestFile })).rejects.toThrow(/--for-image takes the sysexts from the manifest/);
    await expect(butaneCommand([], { forImage: path.join(dir, 'missing.json') })).rejects.toThrow(/cannot read the manifest/);
  });
});
