import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { run } from '../../src/util/exec.js';
import { parseUnit, unitValues } from '../../src/sysext/units.js';
import { insideSysextTree, parsePathSpec, refuseDuplicateDestinations, shQuote } from '../../src/wrap/paths.js';
import { execPrograms, rewriteExecPrograms, rewriteTorcxUnit, substituteTorcxVariables } from '../../src/wrap/unit-rewrite.js';
import { renderWrapper, wrapperMountPoints } from '../../src/wrap/wrapper-script.js';
import { cleanupAll, tempDir } from './fixtures.js';

afterAll(cleanupAll);

describe('parsePathSpec', () => {
  const bin = { defaultDir: '/usr/bin', what: 'binary' };
  it('keeps /usr and /opt paths, sends others to the default dir, honours SRC:DEST', () => {
    expect(parsePathSpec('/usr/sbin/nft', bin)).toEqual({ source: '/usr/sbin/nft', dest: '/usr/sbin/nft' });
    expect(parsePathSpec('/bin/jq', bin)).toEqual({ source: '/bin/jq', dest: '/usr/bin/jq' });
    expect(parsePathSpec('/opt/x/bin/x', bin)).toEqual({ source: '/opt/x/bin/x', dest: '/opt/x/bin/x' });
    expect(parsePathSpec('/etc/x.conf:/usr/share/x/x.conf', bin)).toEqual({ source: '/etc/x.conf', dest: '/usr/share/x/x.conf' });
    expect(parsePathSpec('/usr//share/x/', { what: 'resource' })).toEqual({ source: '/usr/share/x', dest: '/usr/share/x' });
  });

  it('refuses relative, "..", whole-root and out-of-tree destinations', () => {
    expect(() => parsePathSpec('usr/bin/jq', bin)).toThrow(/not an absolute path/);
    expect(() => parsePathSpec('/usr/bin/../../etc/shadow', bin)).toThrow(/contains "\.\."/);
    expect(() => parsePathSpec('/', bin)).toThrow(/whole rootfs/);
    expect(() => parsePathSpec('/usr/bin/jq:/etc/jq', bin)).toThrow(/outside \/usr and \/opt/);
    expect(() => parsePathSpec('/usr/bin/jq:/usr', bin)).toThrow(/outside \/usr and \/opt/);
    expect(() => parsePathSpec('/etc/jq', { what: 'resource' })).toThrow(InputError);
  });

  it('knows what a sysext can hold and refuses two sources for one destination', () => {
    expect(insideSysextTree('/usr/x')).toBe(true);
    expect(insideSysextTree('/usrx/y')).toBe(false);
    expect(insideSysextTree('/opt')).toBe(false);
    expect(() => refuseDuplicateDestinations([{ source: '/bin/a', dest: '/usr/bin/a' }, { source: '/sbin/a', dest: '/usr/bin/a' }], 'binaries')).toThrow(/\/bin\/a and \/sbin\/a would both be installed as \/usr\/bin\/a/);
  });
});

describe('rewriteExecPrograms', () => {
  const unit = [
    '[Service]',
    '# ExecStart=/usr/bin/jq in a comment stays',
    'ExecStartPre=-/bin/jq -n 0',
    'ExecStart=@"/usr/bin/jq" jq-alias --arg',
    'ExecReload=/usr/bin/kill -HUP $MAINPID',
    'ExecStop=jq --bare-name',
    'Environment=X=/usr/bin/jq',
  ].join('\n');

  it('lists programs, quotes removed', () => {
    expect(execPrograms(unit)).toEqual(['/bin/jq', '/usr/bin/jq', '/usr/bin/kill', 'jq']);
  });

  it('replaces mapped programs keeping prefixes, quotes and arguments; reports the rest', () => {
    const r = rewriteExecPrograms(unit, new Map([['/bin/jq', '/usr/bin/jqw'], ['/usr/bin/jq', '/usr/bin/jqw']]));
    expect(r.text.split('\n')).toEqual([
      '[Service]',
      '# ExecStart=/usr/bin/jq in a comment stays',
      'ExecStartPre=-/usr/bin/jqw -n 0',
      'ExecStart=@"/usr/bin/jqw" jq-alias --arg',
      'ExecReload=/usr/bin/kill -HUP $MAINPID',
      'ExecStop=jq --bare-name',
      'Environment=X=/usr/bin/jq',
    ]);
    expect(r.changed).toEqual(['ExecStartPre=/bin/jq -> /usr/bin/jqw', 'ExecStart=/usr/bin/jq -> /usr/bin/jqw']);
    expect(r.leftAlone).toEqual(['ExecReload=/usr/bin/kill: not one of the wrapped programs, kept as is']);
  });
});

describe('Torcx unit rewriting', () => {
  it('substitutes the variables as their sysext values', () => {
    expect(substituteTorcxVariables('${TORCX_BINDIR}/dockerd')).toBe('/usr/bin/dockerd');
    expect(substituteTorcxVariables('$TORCX_BINDIR/x $TORCX_BINDIRX')).toBe('/usr/bin/x $TORCX_BINDIRX');
    expect(substituteTorcxVariables('${TORCX_UNPACKDIR}${TORCX_IMAGEDIR}/etc/x')).toBe('/etc/x');
    expect(substituteTorcxVariables('--root=${TORCX_UNPACKDIR}')).toBe('--root=/');
    expect(substituteTorcxVariables('${TORCX_IMAGEDIR}')).toBe('');
    expect(substituteTorcxVariables('${PATH}:/x')).toBe('${PATH}:/x');
  });

  it('leaves a unit without Torcx references byte for byte', () => {
    const text = '[Unit]\nAfter=network.target\n\n[Service]\nExecStart=/usr/bin/x\n';
    expect(rewriteTorcxUnit(text)).toEqual({ text, changed: [], leftAlone: [] });
  });

  it('keeps continued values whole and reports mixed Environment= lines', () => {
    const text = [
      '[Unit]',
      'Wants=torcx.target',
      '[Service]',
      'EnvironmentFile=/run/metadata/torcx',
      'Environment="A=1" TORCX_BINDIR=/elsewhere',
      'ExecStart=/bin/sh -c \\',
      '  "exec ${TORCX_BINDIR}/x"',
    ].join('\n');
    const r = rewriteTorcxUnit(text);
    const unit = parseUnit(r.text);
    expect(unit.errors).toEqual([]);
    expect(unitValues(unit, 'Unit', 'Wants')).toEqual([]);
    expect(unitValues(unit, 'Service', 'ExecStart')).toEqual(['/bin/sh -c  "exec /usr/bin/x"']);
    expect(unitValues(unit, 'Service', 'Environment')).toEqual(['TORCX_BINDIR=/usr/bin', 'TORCX_UNPACKDIR=/', 'TORCX_IMAGEDIR=', '"A=1" TORCX_BINDIR=/elsewhere']);
    expect(r.leftAlone).toEqual(['Environment="A=1" TORCX_BINDIR=/elsewhere: assigns a TORCX_ variable among others; check its value']);
  });

  it('says so when there is no [Service] to set the variables in', () => {
    const r = rewriteTorcxUnit('[Socket]\nListenStream=${TORCX_UNPACKDIR}/run/x.sock\n');
    expect(r.text).toBe('[Socket]\nListenStream=/run/x.sock\n');
    expect(r.leftAlone).toEqual(['uses TORCX_ variables but has no [Service] section to set them in']);
  });
});

describe('renderWrapper', () => {
  it('is valid sh that binds exactly the chosen host dirs', async () => {
    const dir = await tempDir();
    for (const [etcMap, varMap, homeMap] of [['host', 'host', 'host'], ['chroot', 'chroot', 'chroot']] as const) {
      const text = renderWrapper({ name: 'demo', program: "/usr/bin/it's", etcMap, varMap, homeMap });
      const file = path.join(dir, `w-${etcMap}`);
      await writeFile(file, text);
      await run('sh', ['-n', file]);
      expect(text).toContain("prog='/usr/bin/it'\\''s'");
      expect(text).toContain('root=${FLATWRAP_ROOT:-/usr/local/demo}');
      expect(text.includes('--bind /etc /etc')).toBe(etcMap === 'host');
      expect(text.includes('mount --rbind /etc "$root/etc"')).toBe(etcMap === 'host');
      expect(text.includes('--bind /var /var')).toBe(varMap === 'host');
      expect(text.includes('--bind-try /root /root')).toBe(homeMap === 'host');
    }
  });

  it('lists the mount points the image must provide', () => {
    expect(wrapperMountPoints({ etcMap: 'host', varMap: 'chroot', homeMap: 'host' })).toEqual(['/dev', '/proc', '/sys', '/run', '/tmp', '/etc', '/home', '/root']);
  });

  it('quotes for sh', () => {
    expect(shQuote("a'b")).toBe(`'a'\\''b'`);
  });
});
