// The first record of real zfs send streams (stream-heads.json, recorded
// from zfs-fuse and the OpenZFS 2.1 and 2.3 guests by
// test/fixtures/zfs/record-stream-heads.ts) against what zfs get said of
// the snapshot sent and its base.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STREAM_BEGIN_BYTES, streamBegin } from '../../src/zfs/stream.js';
import type { StreamHead } from '../fixtures/zfs/record-stream-heads.js';
import { fixtureDir } from '../fixtures/zfs/replay.js';

const file = JSON.parse(readFileSync(join(fixtureDir(), 'stream-heads.json'), 'utf8')) as { bytes: number; heads: StreamHead[] };

describe('the first record of a zfs send stream (real streams)', () => {
  it('the fixture holds streams of every flavour, read as many bytes as the reader takes', () => {
    expect(file.bytes).to.equal(STREAM_BEGIN_BYTES);
    expect([...new Set(file.heads.map((h) => h.flavour))]).to.deep.equal(['zfs-fuse', 'openzfs-2.1', 'openzfs-2.3']);
  });

  for (const h of file.heads) {
    it(`${h.flavour}, ${h.what}: the snapshot's name, guid and creation, and the base's guid`, () => {
      expect(streamBegin(Buffer.from(h.head, 'base64'))).to.deep.equal({ toguid: h.guid, creation: h.creation, fromguid: h.fromguid, toname: h.snapshot });
    });
  }

  it('not a stream, or too short: nothing', () => {
    const real = Buffer.from(file.heads[0]!.head, 'base64');
    expect(streamBegin(real.subarray(0, STREAM_BEGIN_BYTES - 1))).to.equal(undefined);
    expect(streamBegin(Buffer.alloc(STREAM_BEGIN_BYTES))).to.equal(undefined);
    // the same bytes one record later in the stream (not its start): no magic where the BEGIN record has it
    expect(streamBegin(Buffer.concat([Buffer.alloc(8), real]).subarray(0, STREAM_BEGIN_BYTES))).to.equal(undefined);
  });
});
