import { beforeAll, describe, expect, it } from 'vitest';
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

function butane(options: Omit<ProvisioningOptions, 'sysexts'> & { sysexts?: ProvisioningOptions['sysexts'] } = {}): Record<string, any> {
  return parseYaml(renderButane(buildProvisioningConfig({ sysexts: [WASMTIME], ...options }))) as Record<string, any>;
}

const HEADER = { variant: 'flatcar', version: '1.0.0' };

const wasmtimeFile = {
  path: '/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw',
  mode: 0o644,
  contents: { source: `${BAKERY}/wasmtime-24.0.0-x86-64.raw` },
};
const wasmtimeLink = {
  path: '/etc/extensions/wasmtime.raw',
  target: '/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw',
  hard: false,
};

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
      expect(sources).toEqual([
        'https://mirror.example/sysexts/wasmtime-24.0.0-x86-64.raw',
        'https://mirror.example/sysexts/noop.conf',
        'https://mirror.example/sysexts/wasmtime.conf',
      ]);
    }
  });

  it('--sysupdate: transfers, noop.conf, the timer and the update drop-in', () => {
    expect(butane({ sysupdate: true })).toEqual({
      ...HEADER,
      storage: {
        files: [
          wasmtimeFile,
          { path: '/etc/sysupdate.d/noop.conf', mode: 0o644, contents: { source: `${BAKERY}/noop.conf` } },
          { path: '/etc/sysupdate.wasmtime.d/wasmtime.conf', mode: 0o644, contents: { source: `${BAKERY}/wasmtime.conf` } },
        ],
        links: [wasmtimeLink],
      },
      systemd: {
        units: [
          { name: 'systemd-sysupdate.timer', enabled: true },
          {
            name: 'systemd-sysupdate.service',
            dropins: [
              {
                name: 'sysext.conf',
                contents: ['[Service]', ...sysupdateLines('wasmtime'), 'ExecStartPost=systemctl restart systemd-sysext', ''].join('\n'),
              },
            ],
          },
        ],
      },
    });
  });

  it('--sysupdate with several sysexts: steps for each, one noop.conf, the sysext restart last', () => {
    const config = butane({ sysexts: [WASMTIME, K3S], sysupdate: true });
    const paths = config.storage.files.map((f: any) => f.path);
    expect(paths.filter((p: string) => p === '/etc/sysupdate.d/noop.conf')).toHaveLength(1);
    expect(paths).toContain('/etc/sysupdate.k3s.d/k3s.conf');
    const dropin: string = config.systemd.units[1].dropins[0].contents;
    const lines = dropin.trimEnd().split('\n');
    expect(lines).toEqual(['[Service]', ...sysupdateLines('wasmtime'), ...sysupdateLines('k3s'), 'ExecStartPost=systemctl restart systemd-sysext']);
    expect(lines.at(-1)).toBe('ExecStartPost=systemctl restart systemd-sysext');
  });

  it('without --sysupdate there is no sysupdate file and no unit', () => {
    const text = renderButane(buildProvisioningConfig({ sysexts: [WASMTIME] }));
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
    const text = renderButane(buildProvisioningConfig({ sysexts: [WASMTIME], sysupdate: true }));
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

  const cases: Array<[string, ProvisioningOptions]> = [
    ['one sysext', { sysexts: [WASMTIME] }],
    ['--sysupdate', { sysexts: [WASMTIME, K3S], sysupdate: true }],
    ['--replace-docker', { sysexts: [WASMTIME], replaceDocker: true }],
    ['--enable', { sysexts: [K3S], enable: ['k3s', 'k3s-agent', 'getty@tty1.service'] }],
    ['--base-url', { sysexts: [WASMTIME], baseUrl: 'http://10.0.0.1:8080/bakery/' }],
    ['everything', { sysexts: [WASMTIME, K3S], sysupdate: true, replaceDocker: true, enable: ['k3s'], unitDir: '/usr/local/lib/systemd/system' }],
  ];

  it.each(cases)('%s: valid against the published Ignition 3.3 schema, no undeclared keys', (_, options) => {
    const config = JSON.parse(renderIgnition(buildProvisioningConfig(options)));
    expect(config.ignition).toEqual({ version: '3.3.0' });
    expect(validator.schemaErrors(config)).toEqual([]);
    expect(validator.undeclaredKeys(config)).toEqual([]);
  });

  it.each(cases)('%s: the same files, links and units as the Butane config', (_, options) => {
    const model = buildProvisioningConfig(options);
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
  const build = (options: Partial<ProvisioningOptions>) => () => buildProvisioningConfig({ sysexts: [WASMTIME], ...options });

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

  it('refuses arguments that are not NAME:FILE', () => {
    for (const arg of ['wasmtime', ':x.raw', 'wasmtime:', 'wasmtime-24.0.0-x86-64.raw']) {
      refused(() => butaneCommand([arg]), /is not NAME:FILE/);
    }
    refused(() => butaneCommand(['a:b:c.raw']), /bad file name 'b:c.raw'/);
  });

  it('refuses no sysexts and the same NAME twice', () => {
    refused(() => butaneCommand([]), /no sysexts/);
    refused(() => butaneCommand(['a:a-1.raw', 'a:a-2.raw']), /given twice/);
  });

  it('refuses a sysext that would collide with the --replace-docker masks', () => {
    refused(build({ sysexts: [{ name: 'docker-flatcar', file: 'docker-27.raw' }], replaceDocker: true }), /two entries would write \/etc\/extensions\/docker-flatcar\.raw/);
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

describe('butaneCommand', () => {
  it('prints Butane YAML by default and Ignition JSON with --ignition', () => {
    const args = ['wasmtime:wasmtime-24.0.0-x86-64.raw'];
    const yamlText = butaneCommand(args, { sysupdate: true });
    expect(parseYaml(yamlText)).toMatchObject({ variant: 'flatcar', version: '1.0.0' });
    const json = JSON.parse(butaneCommand(args, { sysupdate: true, ignition: true }));
    expect(json.ignition.version).toBe('3.3.0');
    expect(json.storage.files[0].contents.source).toBe(`${BAKERY}/wasmtime-24.0.0-x86-64.raw`);
  });

  it('is deterministic and ends with a newline', () => {
    const run = () => butaneCommand(['k3s:k3s-v1.29.2+k3s1-x86-64.raw'], { replaceDocker: true, enable: ['k3s'], sysupdate: true });
    expect(run()).toBe(run());
    expect(run().endsWith('\n')).toBe(true);
  });

  it('passes --base-url and --unit-dir through', () => {
    const json = JSON.parse(
      butaneCommand(['k3s:k3s-v1.29.2+k3s1-x86-64.raw'], { ignition: true, baseUrl: 'https://m.example/x', enable: ['k3s'], unitDir: '/usr/local/lib/systemd/system' }),
    );
    expect(json.storage.files[0].contents.source).toBe('https://m.example/x/k3s-v1.29.2+k3s1-x86-64.raw');
    expect(json.storage.links[1].target).toBe('/usr/local/lib/systemd/system/k3s.service');
  });
});
