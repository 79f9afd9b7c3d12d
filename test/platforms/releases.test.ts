/**
 * Release awareness: which vendor each Flatcar release's SDK writes, and how.
 * The facts are read from flatcar/scripts at the release tags (file and line
 * given per fact); the registry must agree with them and refuse the rest.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { loadVendorRegistry } from '../../src/platforms/registry.js';
import { eraOf, majorOf, refuseUnsupportedVendors, releaseRefusal, supportedReleases } from '../../src/platforms/releases.js';

const registry = await loadVendorRegistry();
const v = (id: string) => registry.get(id);

/** stable-4593.2.5 and lts-4081.3.10: build_library/vm_image_util.sh still installs OEM *packages* for these. */
const PACKAGE_OEM_IN_STABLE_AND_LTS = [
  'virtualbox', // 4593 :155 / 4081 :150  IMG_virtualbox_OEM_PACKAGE=oem-virtualbox
  'vagrant', // 4593 :163 / 4081 :158  IMG_vagrant_OEM_PACKAGE=oem-vagrant
  'vagrant_parallels', // same oem-vagrant package
  'cloudstack', // 4593 :277 / 4081 :270
  'cloudstack_vhd', // 4593 :279 / 4081 :272
  'exoscale', // 4593 :288 / 4081 :281
  'cloudsigma', // 4593 :317 / 4081 :307
];

/** VALID_IMG_TYPES (vm_image_util.sh 8-47 at stable-4593.2.5, 8-44 at lts-4081.3.10): absent types. */
const ABSENT = { 4593: ['oraclecloud'], 4081: ['oraclecloud', 'proxmoxve', 'stackit', 'nutanix'] } as const;

describe('vendor eras from the SDK', () => {
  it('reads the major of a version, nothing from anything else', () => {
    expect(majorOf('4593.2.5')).toBe(4593);
    expect(majorOf(' 4081.3.10 ')).toBe(4081);
    expect(majorOf('unknown')).toBeUndefined();
    expect(majorOf('4593.2')).toBeUndefined();
  });

  it.each([4593, 4081])('Flatcar %i: vendors with OEM packages are refused, naming the releases that have them as sysexts', (major) => {
    for (const id of PACKAGE_OEM_IN_STABLE_AND_LTS) {
      expect(eraOf(v(id), major)?.oem, id).toBe('package');
      expect(releaseRefusal(v(id), major, 'x86-64'), id).toMatch(/with an OEM package, not an OEM sysext/);
      // beta-4757.1.0 vm_image_util.sh :105 IMG_virtualbox_OEM_SYSEXT=virtualbox, :112 vagrant, :182/:184 cloudstack, :192 exoscale, :213 cloudsigma
      expect(supportedReleases(v(id), 'x86-64'), id).toBe('4722 and later');
    }
  });

  it('Flatcar 4593 and 4081 lack the vendors their VALID_IMG_TYPES lack', () => {
    for (const [major, ids] of Object.entries(ABSENT)) {
      for (const id of ids) expect(releaseRefusal(v(id), Number(major), 'x86-64'), `${id} in ${major}`).toMatch(new RegExp(`Flatcar ${major} has no ${id} image`));
    }
    // ...and have these (stable-4593.2.5 vm_image_util.sh :28 proxmoxve, :35 stackit, :46 nutanix).
    for (const id of ['proxmoxve', 'stackit', 'nutanix']) expect(releaseRefusal(v(id), 4593, 'x86-64'), id).toBeUndefined();
    // hyperv: OEM sysext from 4459 (stable-4459.2.4 IMG_hyperv_OEM_SYSEXT=oem-hyperv), a package in LTS 4081.
    expect(releaseRefusal(v('hyperv'), 4593, 'x86-64')).toBeUndefined();
    expect(releaseRefusal(v('hyperv'), 4081, 'x86-64')).toMatch(/OEM package/);
  });

  it('writes the OEM-sysext vendors of stable and LTS (azure: 4593 :294-295 common-oem-files + OEM_SYSEXT=oem-azure)', () => {
    for (const major of [4593, 4081]) {
      for (const id of ['qemu_uefi', 'ami', 'ami_vmdk', 'azure', 'gce', 'openstack', 'digitalocean', 'hetzner', 'vmware', 'vmware_ova', 'akamai', 'kubevirt', 'scaleway', 'xen', 'pxe', 'iso', 'parallels']) {
        expect(releaseRefusal(v(id), major, 'x86-64'), `${id} in ${major}`).toBeUndefined();
      }
    }
  });

  it('every vendor exists in the newest surveyed release (alpha-4790.0.0) with its OEM sysext or without an OEM', () => {
    for (const id of registry.ids) expect(releaseRefusal(v(id), 4790, registry.get(id).architectures[0]!), id).toBeUndefined();
  });

  it('keeps the gaps of the SDK history (nutanix is not in alpha-4487.0.1, stackit not in alpha-4277/4284)', () => {
    expect(eraOf(v('nutanix'), 4487)?.oem).toBe('absent');
    expect(eraOf(v('nutanix'), 4515)?.oem).toBe('sysext');
    expect(supportedReleases(v('stackit'))).toBe('4230 to 4276, 4344 and later');
    expect(eraOf(v('qemu_uefi'), 3000)).toBeUndefined();
  });
});

describe('architectures (coreos-overlay/coreos-base/oem-<id>/*.ebuild KEYWORDS)', () => {
  // alpha-4790.0.0: KEYWORDS="amd64" for oem-cloudsigma, -cloudstack, -digitalocean, -exoscale, -gce, -nutanix
  const AMD64_ONLY = ['cloudsigma', 'cloudstack', 'cloudstack_vhd', 'exoscale', 'gce', 'nutanix'];

  it('refuses arm64 for amd64-only OEMs before the release is even known', () => {
    for (const id of AMD64_ONLY) {
      let error: unknown;
      try {
        registry.select([id], 'arm64');
      } catch (e) {
        error = e;
      }
      expect(error, id).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(new RegExp(`vendor '${id}' has no arm64 image: its OEM \\(oem-cloudstack|oem-${id}\\) is built for x86-64 only`));
      expect(registry.select([id], 'x86-64').vendors.map((r) => r.id)).toEqual([id]);
    }
  });

  it('digitalocean: arm64 in 3760 to 4721 (stable-4593.2.5 KEYWORDS="amd64 arm64"), amd64 only from 4722', () => {
    expect(registry.select(['digitalocean'], 'arm64', '4593.2.5').vendors).toHaveLength(1);
    expect(() => registry.select(['digitalocean'], 'arm64', '4790.0.0')).toThrow(/Flatcar 4790 has no arm64 digitalocean image/);
    expect(supportedReleases(v('digitalocean'), 'arm64')).toBe('3760 to 4721');
  });

  it('arm64 vendors with arm64 OEMs pass (azure, ami, qemu_uefi, hetzner, oraclecloud)', () => {
    expect(registry.select(['azure,ami,qemu_uefi,hetzner,oraclecloud'], 'arm64', '4790.0.0').vendors).toHaveLength(5);
  });
});

describe('refusing before anything happens', () => {
  it('names every refused vendor and the releases that support each', () => {
    let error: UsageError | undefined;
    try {
      refuseUnsupportedVendors([v('azure'), v('virtualbox'), v('oraclecloud')], '4593.2.5', 'x86-64');
    } catch (e) {
      error = e as UsageError;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect(error!.message).toBe(
      'Flatcar 4593 writes virtualbox with an OEM package, not an OEM sysext (no oem-virtualbox.raw is published), and flatbake can only install OEM sysexts; also oraclecloud',
    );
    expect(error!.hint).toMatch(/virtualbox \(x86-64\) is written for Flatcar 4722 and later; oraclecloud \(x86-64\) is written for Flatcar 4722 and later/);
  });

  it('checks nothing for a version it cannot read', () => {
    expect(() => refuseUnsupportedVendors([v('virtualbox')], 'unknown', 'x86-64')).not.toThrow();
  });
});

/** VALID_IMG_TYPES at the newest tag of every major 3033-4790 (fixture: the SDK's lists, tag per line). */
const SURVEY: ReadonlyMap<number, readonly string[]> = new Map(
  readFileSync(new URL('../fixtures/flatcar-sdk/valid-img-types.txt', import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => /^\d/.test(line))
    .map((line) => {
      const [major, _tag, ...types] = line.split(' ');
      return [Number(major), types] as const;
    }),
);

describe('every image type the SDK ever listed (3033-4790) is a vendor or a retired record', () => {
  const everListed = [...new Set([...SURVEY.values()].flat())].sort();
  const majorsListing = (id: string) => [...SURVEY].filter(([, types]) => types.includes(id)).map(([major]) => major);

  it('surveys every major from 3033 to 4790', () => {
    expect(SURVEY.size).toBe(69);
    expect(Math.min(...SURVEY.keys())).toBe(3033);
    expect(Math.max(...SURVEY.keys())).toBe(4790);
  });

  it('knows each one, as a vendor or as retired', () => {
    const retired = new Set(registry.retired.map((r) => r.id));
    expect(everListed).toHaveLength(47);
    for (const id of everListed) expect(registry.ids.includes(id) || retired.has(id), id).toBe(true);
    // The ones the issue names (stable-4593.2.5 / lts-4081.3.10 VALID_IMG_TYPES).
    for (const id of ['rackspace', 'rackspace_onmetal', 'rackspace_vhd', 'vagrant_virtualbox', 'vagrant_vmware_fusion', 'vmware_insecure', 'packet']) expect(retired.has(id), id).toBe(true);
  });

  it('gives each retired type the first and last surveyed major that lists it', () => {
    for (const r of registry.retired) {
      const majors = majorsListing(r.id);
      expect([r.from, r.until], r.id).toEqual([majors[0], majors.at(-1)]);
    }
  });

  it('has a vendor\'s eras absent exactly where the SDK of that major does not list it', () => {
    for (const id of registry.ids) {
      for (const [major, types] of SURVEY) expect(eraOf(v(id), major)?.oem !== 'absent', `${id} in ${major}`).toBe(types.includes(id));
    }
  });

  it('refuses a retired vendor with exit status 2, naming its releases and what to use instead', () => {
    const refusal = (id: string) => {
      try {
        registry.select([id], 'x86-64', '4593.2.5');
      } catch (e) {
        return e as UsageError;
      }
      throw new Error(`${id} was accepted`);
    };
    const rackspace = refusal('rackspace');
    expect(rackspace).toBeInstanceOf(UsageError);
    expect(rackspace.exitCode).toBe(2);
    expect(rackspace.message).toMatch(/^vendor 'rackspace' is not a flatbake vendor: Flatcar's SDK had it as an image type of its own for Flatcar 3033 to 4694; dropped in 4722/);
    expect(rackspace.hint).toMatch(/nothing replaced it/);
    expect(refusal('vagrant_virtualbox').hint).toBe('use --vendor vagrant (`flatbake vendors` describes it)');
    expect(refusal('qemu_uefi_secure').message).toMatch(/3033 to 3874; from 3913 qemu_uefi writes it/);
    expect(refusal('no_such_cloud').message).toBe("unknown vendor 'no_such_cloud'");
  });
});
