// The first record of a `zfs send` stream (DRR_BEGIN of the on-disk
// dmu_replay_record), as far as zettabee reads it: which snapshot the stream
// carries (its guid and full name) and from which (the base's guid, 0 for a
// full stream). The layout is the same in zfs-fuse and OpenZFS:
//   0   u32 drr_type (0: BEGIN)     4  u32 drr_payloadlen
//   8   u64 drr_magic 0x2F5BACBAC   16 u64 versioninfo   24 u64 creation time
//   32  u32 objset type   36 u32 flags
//   40  u64 drr_toguid    48 u64 drr_fromguid   56 char drr_toname[256]
// in the byte order of the sender. Only little-endian streams are read (the
// only ones recorded here): from another sender nothing is read, and the run
// goes the slower way (the record after the guid check).

/** bytes of the stream that hold what streamBegin reads */
export const STREAM_BEGIN_BYTES = 312;

const MAGIC = 0x2f5bacbacn;

export interface StreamBegin {
  toguid: string;
  /** the snapshot's creation, epoch seconds (its creation property) */
  creation: number;
  /** '0' for a full stream */
  fromguid: string;
  /** dataset@snapshot as on the sender */
  toname: string;
}

/** the stream's BEGIN record from its first bytes; undefined when they are not one */
export function streamBegin(head: Buffer): StreamBegin | undefined {
  if (head.length < STREAM_BEGIN_BYTES) return undefined;
  if (head.readBigUInt64LE(8) !== MAGIC || head.readUInt32LE(0) !== 0) return undefined;
  const u64 = (at: number) => head.readBigUInt64LE(at).toString();
  const nul = head.indexOf(0, 56);
  const toname = head.toString('utf8', 56, nul < 0 || nul > STREAM_BEGIN_BYTES ? STREAM_BEGIN_BYTES : nul);
  if (!toname.includes('@')) return undefined;
  return { toguid: u64(40), creation: Number(u64(24)), fromguid: u64(48), toname };
}
