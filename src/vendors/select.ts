import { NotImplementedError, UsageError } from '../errors.js';

/** Vendor ids of ../shared/FLATCAR.md; `generic` is the plain image. */
export const FLATCAR_VENDOR_IDS = [
  'qemu_uefi', 'ami', 'ami_vmdk', 'azure', 'gce', 'openstack', 'openstack_mini', 'oraclecloud', 'proxmoxve', 'nutanix',
  'kubevirt', 'scaleway', 'stackit', 'cloudsigma', 'exoscale', 'digitalocean', 'akamai', 'hetzner', 'cloudstack',
  'cloudstack_vhd', 'hyperv', 'hyperv_vhdx', 'vmware', 'vmware_raw', 'vmware_ova', 'virtualbox', 'vagrant',
  'vagrant_parallels', 'parallels', 'xen', 'pxe', 'iso',
] as const;

/** Parses --vendor's list; only `generic` is written so far, the others say so. */
export function checkVendors(list: readonly string[]): string[] {
  const vendors = [...new Set(list.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean))];
  if (vendors.length === 0) return ['generic'];
  for (const vendor of vendors) {
    if (vendor === 'generic') continue;
    if (!(FLATCAR_VENDOR_IDS as readonly string[]).includes(vendor)) {
      throw new UsageError(`unknown vendor '${vendor}'`, `known vendors: generic, ${FLATCAR_VENDOR_IDS.join(', ')}`);
    }
    throw new NotImplementedError(`vendor image '${vendor}' (only the generic image is written so far)`);
  }
  return vendors;
}
