/** Vendor images: the registry of vendors/ and the writer the bake calls after injecting sysexts. */
export { buildVendorRegistry, diskFileName, GENERIC_VENDOR, loadVendorRegistry, outputNames, vendorsDir, type VendorRegistry, type VendorSelection } from './registry.js';
export { writeVendorImages, type OemSysextSource, type VendorOutput, type VendorResult, type WriteVendorImagesOptions } from './write.js';
export { VENDOR_HOST_FILES, VENDOR_HOST_TOOLS } from './tools.js';
export { InsufficientSpaceError } from './space.js';
export type * from './types.js';
