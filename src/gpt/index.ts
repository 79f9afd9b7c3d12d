/** The project's GPT reader and writer; see the individual modules for details. */
export { crc32 } from './crc32.js';
export { guidFromBytes, guidToBytes, isGuid, isZeroGuidBytes, parseGuid, GUID_BYTES, ZERO_GUID } from './guid.js';
export { GptError, type ByteReader, type GptErrorCode, type GptHeader, type GptHeaderCheck, type GptPartition, type GptTable } from './types.js';
export { parseGpt, decodeName, type ParseOptions } from './parse.js';
export * from './locate.js';
export { fileReader, readGptFromFile, applyDiskWrites, type FileByteReader } from './file.js';
export { alignUp, growGpt, type DiskWrite, type PartitionChange } from './write.js';
