import { describe, expect, it } from 'vitest';
import { matchesTransfer, parseTransferTarget, placementFromTransfer } from '../../src/sysupdate/transfer.js';

/**
 * The bakery's transfer as `lib/generate.sh` fills `lib/sysupdate.conf.tmpl`
 * (flatcar/sysext-bakery 80959c1, Apache-2.0) for kubernetes: no MatchPattern in [Target], so
 * systemd-sysupdate uses the Source's.
 */
const BAKERY_KUBERNETES = `[Transfer]
Verify=false

[Source]
Type=url-file
Path=https://extensions.flatcar.org/extensions/kubernetes/
MatchPattern=kubernetes-@v-%a.raw

[Target]
InstancesMax=3
Type=regular-file
Path=/opt/extensions/kubernetes
CurrentSymlink=/etc/extensions/kubernetes.raw
`;

describe('parseTransferTarget', () => {
  it("reads the bakery's transfer, taking the Source's pattern when [Target] has none", () => {
    expect(parseTransferTarget(BAKERY_KUBERNETES)).toEqual({
      type: 'regular-file',
      path: '/opt/extensions/kubernetes',
      pathRelativeTo: undefined,
      patterns: ['kubernetes-@v-%a.raw'],
      currentSymlink: '/etc/extensions/kubernetes.raw',
    });
  });

  it("prefers [Target]'s own patterns, accumulates them, and an empty MatchPattern= resets", () => {
    const text = '[Source]\nMatchPattern=a-@v.raw\n[Target]\nType=regular-file\nMatchPattern=b-@v.raw c-@v.raw\nMatchPattern=d-@v.raw\n';
    expect(parseTransferTarget(text).patterns).toEqual(['b-@v.raw', 'c-@v.raw', 'd-@v.raw']);
    expect(parseTransferTarget(`${text}MatchPattern=\nMatchPattern=e-@v.raw\n`).patterns).toEqual(['e-@v.raw']);
  });
});

describe('matchesTransfer', () => {
  const patterns = ['kubernetes-@v-%a.raw'];
  it.each([
    ['kubernetes-v1.31.0-x86-64.raw', 'x86-64', true],
    ['kubernetes-v1.31.0-arm64.raw', 'arm64', true],
    ['kubernetes-v1.31.0-arm64.raw', 'x86-64', false],
    ['kubernetes.raw', 'x86-64', false],
    ['kubernetes-v1.31.0-x86-64.raw.bak', 'x86-64', false],
    ['kubernetesXv1-x86-64.raw', 'x86-64', false],
  ] as const)('%s on %s: %s', (file, arch, expected) => {
    expect(matchesTransfer(file, patterns, arch)).toBe(expected);
  });

  it('treats dots in the pattern literally and other fields as text', () => {
    expect(matchesTransfer('k3s-v1.31.1+k3s1-x86-64.raw', ['k3s-@v-%a.raw'], 'x86-64')).toBe(true);
    expect(matchesTransfer('k3s-v1-x86-64Xraw', ['k3s-@v-%a.raw'], 'x86-64')).toBe(false);
    expect(matchesTransfer('a_1_+3-5.raw', ['a_@v_@l-@d.raw'], 'x86-64')).toBe(true);
    expect(matchesTransfer('100%-1.raw', ['100%%-@v.raw'], 'x86-64')).toBe(true);
  });
});

describe('placementFromTransfer', () => {
  it("puts a matching file where the bakery's Target looks, on ROOT", () => {
    expect(placementFromTransfer('kubernetes', 'kubernetes-v1.31.0-x86-64.raw', BAKERY_KUBERNETES, 'x86-64')).toEqual({
      partition: 'root',
      dir: '/opt/extensions/kubernetes',
      bootedDir: '/opt/extensions/kubernetes',
      warnings: [],
    });
  });

  it('warns when the file name does not match, naming the pattern', () => {
    const plan = placementFromTransfer('kubernetes', 'k8s.raw', BAKERY_KUBERNETES, 'x86-64');
    expect(plan).toMatchObject({ partition: 'root', dir: '/opt/extensions/kubernetes' });
    expect((plan as { warnings: string[] }).warnings).toEqual([expect.stringMatching(/^k8s\.raw does not match kubernetes\.conf's MatchPattern kubernetes-@v-%a\.raw/)]);
  });

  it('maps a Target under /oem to the OEM partition, and warns about another CurrentSymlink', () => {
    const text = BAKERY_KUBERNETES.replace('Path=/opt/extensions/kubernetes', 'Path=/oem/ext/kube/').replace('/etc/extensions/kubernetes.raw', '/etc/extensions/k.raw');
    const plan = placementFromTransfer('kubernetes', 'kubernetes-1-x86-64.raw', text, 'x86-64');
    expect(plan).toMatchObject({ partition: 'oem', dir: '/ext/kube', bootedDir: '/oem/ext/kube' });
    expect((plan as { warnings: string[] }).warnings).toEqual([expect.stringContaining('CurrentSymlink is /etc/extensions/k.raw')]);
  });

  it.each([
    ['[Transfer]\nVerify=false\n', /Type is missing/],
    [BAKERY_KUBERNETES.replace('Type=regular-file', 'Type=partition'), /Type is partition/],
    [BAKERY_KUBERNETES.replace('Path=/opt/extensions/kubernetes', 'Path=/usr/lib/extensions'), /read-only USR/],
    [BAKERY_KUBERNETES.replace('Path=/opt/extensions/kubernetes', 'Path=/opt/%m'), /not a plain absolute directory/],
    [BAKERY_KUBERNETES.replace('Path=/opt/extensions/kubernetes', 'Path=/opt/../etc'), /not a plain absolute directory/],
    [`${BAKERY_KUBERNETES}PathRelativeTo=esp\n`, /PathRelativeTo=esp/],
  ])('cannot be used: %#', (text, reason) => {
    const plan = placementFromTransfer('kubernetes', 'kubernetes-1-x86-64.raw', text, 'x86-64');
    expect(plan).toEqual({ unusable: expect.stringMatching(reason) });
  });
});
