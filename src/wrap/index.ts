/** Turning software from other root file systems into sysexts: flix, flatwrap and convert-torcx. */
export { flix, flixInto, flixLibDir, type FlixOptions, type FlixResult, type FlixBinary, type FlixStaged, type FlixStageOptions } from './flix.js';
export { flatwrap, flatwrapInto, type FlatwrapOptions, type FlatwrapResult, type FlatwrapStageOptions } from './flatwrap.js';
export { convertTorcx, parseTorcxManifest, movedPath, TORCX_TOP_LEVEL_MOVES, type ConvertTorcxOptions, type ConvertTorcxResult } from './torcx.js';
export { parseElfDynamic, sameElfAbi, ElfFormatError, DF_1_NODEFLIB, type ElfDynamicInfo, type ElfFileType } from './elf-dynamic.js';
export {
  parseLdSoConf,
  includeBase,
  globSegmentToRegExp,
  defaultLibraryDirs,
  expandRpathTokens,
  multiarchTriplet,
  muslArch,
  parseMuslPath,
  type LdSoConfEntry,
} from './ld-so-conf.js';
export { resolveLibraries, readLdSoConfDirs, systemLibraryDirs, readElf, type LibraryClosure, type ResolvedLibrary, type MissingLibrary } from './libraries.js';
export { resolveInRoot, RootPathLoopError } from './root-path.js';
export { parsePathSpec, insideSysextTree, shQuote, type PathSpec } from './paths.js';
export { execPrograms, rewriteExecPrograms, rewriteTorcxUnit, substituteTorcxVariables, TORCX_ENVIRONMENT, EXEC_KEYS, type RewriteResult } from './unit-rewrite.js';
export { renderWrapper, wrapperMountPoints, wrapperRoot, type DirMap, type WrapperOptions } from './wrapper-script.js';
