// The pure parts of the Debian package build (deb/build.ts): the newest
// Debian changelog entry, the copyright notices of a bundled package's
// license, and the installed launcher made from bin/zettabee.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { changelogTop, copyrightLines, installedLauncher } from '../../deb/build.js';

const ROOT = new URL('../../../', import.meta.url);

describe('deb: the build', () => {
  it('reads the newest changelog entry: version, revision, maintainer, date', () => {
    const top = changelogTop('zettabee (1.2.0-3) unstable; urgency=medium\n\n  * x\n\n -- A B <a@b.example>  Tue, 01 Dec 2026 12:00:00 +0000\n\nzettabee (1.1.0-1) unstable; urgency=low\n');
    expect(top).to.deep.include({ version: '1.2.0-3', upstream: '1.2.0', revision: '3', maintainer: 'A B <a@b.example>' });
    expect(top.date.toISOString()).to.equal('2026-12-01T12:00:00.000Z');
    expect(() => changelogTop('zettabee (1.2.0) unstable; urgency=medium\n\n -- A <a@b>  Tue, 01 Dec 2026 12:00:00 +0000\n')).to.throw(/no Debian revision/);
    expect(() => changelogTop('nothing')).to.throw(/no entry/);
  });

  it("deb/changelog's newest entry is package.json's version", () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { version: string; author: string };
    const top = changelogTop(readFileSync(new URL('deb/changelog', ROOT), 'utf8'));
    expect(top.upstream).to.equal(pkg.version);
    expect(top.maintainer).to.equal(pkg.author);
  });

  it('takes the copyright notices from a license file, not the license words', () => {
    for (const [text, lines] of [
      ['MIT License\n\nCopyright 2010 James Halliday (mail@substack.net)\n\nPermission ...', ['Copyright 2010 James Halliday (mail@substack.net)']],
      ['Copyright (c) 2011:\nTim K (tim@x)\nFelix G (felix@x)\n\n Permission', ['Copyright (c) 2011: Tim K (tim@x), Felix G (felix@x)']],
      ['Copyright Mathias Bynens <https://mathiasbynens.be/>\n', ['Copyright Mathias Bynens <https://mathiasbynens.be/>']],
      ['(c) 2014 A\n© 2015 B\n', ['(c) 2014 A', '© 2015 B']],
      ['# Blue Oak Model License\nno contributor can revoke this license\ncopyright in it.\n', []],
      ['COPYRIGHT HOLDERS BE LIABLE\n      copyright notice that is included\n   Copyright [yyyy] [name of copyright owner]\n   Copyright 2025 ehmicky <e@x>\n', ['Copyright 2025 ehmicky <e@x>']],
    ] as const) {
      expect(copyrightLines(text), text).to.deep.equal(lines);
    }
  });

  it('points bin/zettabee at the installed bundle, and fails when bin/zettabee no longer has what it swaps', () => {
    const installed = installedLauncher(readFileSync(new URL('bin/zettabee', ROOT), 'utf8'));
    expect(installed.split('\n')[0]).to.equal('#!/usr/bin/node');
    expect(installed).to.contain("const BUNDLE = '/usr/lib/zettabee/cli.js';").and.contain('reinstall the zettabee package').and.not.contain('dist/bundle');
    expect(() => installedLauncher('#!/usr/bin/env node\nimport("../dist/bundle/cli.js")\n')).to.throw(/bin\/zettabee: expected/);
  });
});
