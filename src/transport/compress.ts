// Stream compression between hosts: the tools and their argvs. Used only
// when ZFS cannot send compressed blocks itself (send -c on both ends) and
// the tool is on both hosts; replicate.ts decides, setup checks.
import type { Compression } from '../config/keys.js';

export type Compressor = Exclude<Compression, 'none'>;

const TOOLS: Record<Compressor, { pack: string[]; unpack: string[] }> = {
  // lz4/zstd pick stdin/stdout when not given files; -c says so explicitly
  lz4: { pack: ['lz4', '-c', '-q'], unpack: ['lz4', '-d', '-c', '-q'] },
  zstd: { pack: ['zstd', '-c', '-q'], unpack: ['zstd', '-d', '-c', '-q'] },
  // level 6 (the default) costs more CPU than most links save: gzip is the portable choice, not the fast one
  gzip: { pack: ['gzip', '-c'], unpack: ['gzip', '-d', '-c'] },
};

export function compressArgv(c: Compressor): string[] {
  return [...TOOLS[c].pack];
}

export function decompressArgv(c: Compressor): string[] {
  return [...TOOLS[c].unpack];
}

/** `sh -c 'command -v "$1"' sh <tool>`: exit 0 when the tool is on the PATH */
export function toolProbeArgv(tool: string): string[] {
  return ['sh', '-c', 'command -v "$1"', 'sh', tool];
}
