import { expect } from 'chai';
import { decideEncryption, receivedRaw, type DestinationEncryption, type EncryptionInput } from '../../src/domain/encryption.js';
import { parseProps, propsOf } from '../../src/zfs/parse.js';
import { OPENZFS_SETS, record, recordedNames } from '../fixtures/zfs/replay.js';

const S = 'tank/secret';
const D = 'backup/secret';
const enc = (...names: string[]) => ({ encrypted: names, keyUnloaded: [] as string[] });
const none = { encrypted: [] as string[], keyUnloaded: [] as string[] };
const raw: DestinationEncryption = { encryption: 'aes-256-gcm', encryptionRoot: D };
const decrypted: DestinationEncryption = { encryption: 'off', encryptionRoot: '-' };
const underEncryptedParent: DestinationEncryption = { encryption: 'aes-256-gcm', encryptionRoot: 'backup' };

function input(o: Partial<EncryptionInput>): EncryptionInput {
  return { source: none, sourceDataset: S, destinationDataset: D, raw: true, destinationCanRaw: true, ...o };
}

describe('encryption: how an encrypted source travels', () => {
  const rows: Array<[string, Partial<EncryptionInput>, string]> = [
    ['unencrypted source: a plain stream', {}, 'send plain'],
    ['unencrypted source to zfs-fuse: a plain stream', { destinationCanRaw: false }, 'send plain'],
    ['encrypted source, initialize: raw by default', { source: enc(S) }, 'send raw'],
    ['encrypted source, update onto a raw copy: raw', { source: enc(S), destination: new Map([[D, raw]]) }, 'send raw'],
    ['encrypted child of a recursive pair, update onto its raw copy: raw', { source: enc(`${S}/kid`), destination: new Map([[D, decrypted], [`${D}/kid`, { encryption: 'aes-256-gcm', encryptionRoot: `${D}/kid` }]]) }, 'send raw'],
    ['a child that is new on the source is not a mix', { source: enc(`${S}/new`), destination: new Map([[D, decrypted]]) }, 'send raw'],
    ['encrypted source, destination cannot take raw: refused, naming raw=no', { source: enc(S), destinationCanRaw: false, destinationLacks: 'zfs-fuse' }, 'refuse: cannot receive a raw stream: zfs-fuse | raw=no'],
    ['encrypted source onto a decrypted copy: refused', { source: enc(S), destination: new Map([[D, decrypted]]) }, 'refuse: holds a decrypted copy | set raw=no'],
    ['encrypted source onto a copy encrypted by the destination parent: refused as decrypted', { source: enc(S), destination: new Map([[D, underEncryptedParent]]) }, 'refuse: holds a decrypted copy | set raw=no'],
    ['raw=no, initialize: decrypted, with a note', { source: enc(S), raw: false }, 'send plain, note'],
    ['raw=no to zfs-fuse: decrypted', { source: enc(S), raw: false, destinationCanRaw: false }, 'send plain, note'],
    ['raw=no onto a decrypted copy: decrypted', { source: enc(S), raw: false, destination: new Map([[D, decrypted]]) }, 'send plain, note'],
    ['raw=no onto a raw copy: refused', { source: enc(S), raw: false, destination: new Map([[D, raw]]) }, 'refuse: holds the raw encrypted copy | drop raw=no'],
    ['raw=no with the source key unloaded: refused, naming load-key', { source: { encrypted: [S], keyUnloaded: [S] }, raw: false }, 'refuse: key is not loaded | zfs load-key tank/secret'],
  ];
  for (const [name, o, want] of rows) {
    it(name, () => {
      const d = decideEncryption(input(o));
      if (want.startsWith('refuse')) {
        expect(d.kind, JSON.stringify(d)).to.equal('refuse');
        const [msg, hint] = want.slice('refuse: '.length).split(' | ');
        if (d.kind === 'refuse') {
          for (const part of msg!.split(': ')) expect(d.message).to.contain(part);
          expect(d.hint).to.contain(hint);
        }
        return;
      }
      expect(d.kind, JSON.stringify(d)).to.equal('send');
      if (d.kind !== 'send') return;
      expect(d.raw).to.equal(want.startsWith('send raw'));
      expect(d.note !== undefined).to.equal(want.endsWith('note'));
    });
  }

  it('reads a raw copy by its encryption root inside the received tree', () => {
    expect(receivedRaw(raw, D)).to.equal(true);
    expect(receivedRaw({ encryption: 'aes-256-gcm', encryptionRoot: `${D}/a` }, D)).to.equal(true);
    expect(receivedRaw(underEncryptedParent, D)).to.equal(false);
    expect(receivedRaw(decrypted, D)).to.equal(false);
    expect(receivedRaw({ encryption: 'aes-256-gcm', encryptionRoot: `${D}x` }, D)).to.equal(false);
  });

  for (const set of OPENZFS_SETS) {
    it(`reads real ${set} properties: the source, its raw copy, its decrypted copy`, () => {
      const { poolA, poolB } = recordedNames(set);
      const all = parseProps(record(set, 'get-encryption').stdout);
      const of = (ds: string): DestinationEncryption & { keystatus: string } => {
        const p = propsOf(all, ds);
        return { encryption: p.get('encryption')!.value, encryptionRoot: p.get('encryptionroot')!.value, keystatus: p.get('keystatus')!.value };
      };
      // the source: encrypted, its own root, key loaded
      expect(of(`${poolA}/enc`)).to.deep.equal({ encryption: 'aes-256-gcm', encryptionRoot: `${poolA}/enc`, keystatus: 'available' });
      // received raw: ciphertext, its own encryption root, no key on the destination
      const rawCopy = of(`${poolB}/encraw`);
      expect(rawCopy).to.deep.equal({ encryption: 'aes-256-gcm', encryptionRoot: `${poolB}/encraw`, keystatus: 'unavailable' });
      expect(receivedRaw(rawCopy, `${poolB}/encraw`)).to.equal(true);
      // received decrypted: plain, and zfs prints '-' for root and key status
      const plainCopy = of(`${poolB}/encplain`);
      expect(plainCopy).to.deep.equal({ encryption: 'off', encryptionRoot: '-', keystatus: '-' });
      expect(receivedRaw(plainCopy, `${poolB}/encplain`)).to.equal(false);
      // so an update of the raw source onto the decrypted copy is refused before anything is sent
      const d = decideEncryption(input({ source: enc(`${poolA}/enc`), sourceDataset: `${poolA}/enc`, destinationDataset: `${poolB}/encplain`, destination: new Map([[`${poolB}/encplain`, plainCopy]]) }));
      expect(d.kind).to.equal('refuse');
    });
  }
});
