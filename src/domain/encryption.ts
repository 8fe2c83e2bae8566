// How an encrypted source travels (pure). By default it is sent raw (zfs
// send -w): the blocks leave the source as they are on disk, encrypted, the
// key never leaves the source and the destination holds ciphertext. The
// pair key raw=no sends it decrypted instead, on purpose. A pair never mixes
// the two: a raw incremental cannot land on a decrypted copy, and a decrypted
// one would need the destination's key loaded; both are refused with what to
// do, before anything is sent.

export interface SourceEncryption {
  /** the datasets of the pair (the top, and its descendants for recursive pairs) that are encrypted */
  encrypted: string[];
  /** encrypted datasets whose key is not loaded on the source */
  keyUnloaded: string[];
}

export interface DestinationEncryption {
  /** the destination's `encryption` property ('off' when unencrypted) */
  encryption: string;
  /** its `encryptionroot` ('' or '-' when unencrypted) */
  encryptionRoot: string;
}

export interface EncryptionInput {
  source: SourceEncryption;
  sourceDataset: string;
  destinationDataset: string;
  /** the pair's raw key: true (the default) or false */
  raw: boolean;
  /** the destination host's zfs can receive raw streams (send -w in its usage, and its pool has feature@encryption) */
  destinationCanRaw: boolean;
  /** why not, in words, when it cannot (zfs-fuse, a pool without the feature) */
  destinationLacks?: string;
  /** update: the destination's datasets as they are, by name; initialize: undefined */
  destination?: ReadonlyMap<string, DestinationEncryption>;
}

export type EncryptionDecision =
  | { kind: 'send'; raw: boolean; note?: string }
  | { kind: 'refuse'; message: string; hint: string };

/**
 * A dataset received raw is an encryption root inside the received tree (its
 * own, or an encrypted parent's that came in the same stream); one received
 * decrypted is unencrypted or inherits its key from outside the tree.
 */
export function receivedRaw(d: DestinationEncryption, destinationDataset: string): boolean {
  if (d.encryption === 'off' || d.encryption === '-' || d.encryption === '') return false;
  return d.encryptionRoot === destinationDataset || d.encryptionRoot.startsWith(`${destinationDataset}/`);
}

/** the destination counterparts of the encrypted source datasets that exist there, and how each was received */
function counterparts(i: EncryptionInput, names: readonly string[]): Array<{ name: string; raw: boolean }> {
  const out: Array<{ name: string; raw: boolean }> = [];
  for (const s of names) {
    const name = i.destinationDataset + s.slice(i.sourceDataset.length);
    const d = i.destination?.get(name);
    if (d) out.push({ name, raw: receivedRaw(d, i.destinationDataset) });
  }
  return out;
}

function list(names: readonly string[]): string {
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}

export function decideEncryption(i: EncryptionInput): EncryptionDecision {
  const enc = i.source.encrypted;
  if (enc.length === 0) return { kind: 'send', raw: false };
  const what = `${list(enc)} ${enc.length === 1 ? 'is' : 'are'} encrypted`;
  if (i.raw) {
    if (!i.destinationCanRaw) {
      return {
        kind: 'refuse',
        message: `${what} and is sent raw (zfs send -w, so the key never leaves the source), but the destination cannot receive a raw stream${i.destinationLacks ? `: ${i.destinationLacks}` : ''}`,
        hint: 'replicate to OpenZFS 0.8 or newer with feature@encryption, or set raw=no for this pair to send it decrypted (the copy is then stored unencrypted, unless the destination encrypts it itself)',
      };
    }
    const plain = counterparts(i, enc).filter((c) => !c.raw);
    if (plain.length > 0) {
      return {
        kind: 'refuse',
        message: `${what}, but ${list(plain.map((c) => c.name))} on the destination ${plain.length === 1 ? 'holds a decrypted copy' : 'hold decrypted copies'} (received without raw send); a raw incremental cannot land on ${plain.length === 1 ? 'it' : 'them'}`,
        hint: `to keep sending decrypted, set raw=no for this pair; to store ciphertext instead, initialize a new destination (the decrypted copy stays until you destroy it)`,
      };
    }
    return { kind: 'send', raw: true };
  }
  if (i.source.keyUnloaded.length > 0) {
    return {
      kind: 'refuse',
      message: `raw=no sends ${list(i.source.keyUnloaded)} decrypted, but its key is not loaded on the source`,
      hint: `load it there (zfs load-key ${i.source.keyUnloaded[0]}), or drop raw=no so that the ciphertext is sent as it is`,
    };
  }
  const raw = counterparts(i, enc).filter((c) => c.raw);
  if (raw.length > 0) {
    return {
      kind: 'refuse',
      message: `raw=no sends ${list(enc)} decrypted, but ${list(raw.map((c) => c.name))} on the destination ${raw.length === 1 ? 'holds the raw encrypted copy' : 'hold raw encrypted copies'}; the two cannot be mixed`,
      hint: 'drop raw=no for this pair (raw is the default), or initialize a new destination for decrypted copies',
    };
  }
  return { kind: 'send', raw: false, note: `raw=no: sending ${list(enc)} decrypted; the destination stores the data as its own encryption settings say` };
}
