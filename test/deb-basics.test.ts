import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseControl } from '../src/packages/deb/control.js';
import { parseRelations } from '../src/packages/deb/relation.js';
import { compareVersions } from '../src/packages/deb/version.js';
import { parseDeb822Sources, parseOneLineSources } from '../src/packages/deb/apt-sources.js';
import { slimEntries } from '../src/packages/deb/slim.js';
import type { SourcedEntry } from '../src/entries/entry-set.js';
import { dirEntry, fileEntry, symlinkEntry } from '../src/entries/synthetic.js';
import type { Entry } from '../src/tar/entry.js';
import { run } from './helpers.js';

describe('dpkg version ordering', () => {
  const versions = [
    '1.0', '1.0-1', '1.0-1~bpo1', '1.0~rc1', '1.0~rc1-1', '1.0~~', '1.0~', '1.0a', '1.0+dfsg', '1.0.1', '1:0.9',
    '2:1.0', '0:1.0', '1.00', '1.0-0', '1.0-1+b1', '1.0-10', '1.0-9', '2.36-9+deb12u4', '2.36-9+deb12u10', '2.36-9',
    '9.2p1-2+deb12u3', '9.2p1-2', '7.88.1-10+deb12u5', '1.2.13.dfsg-1', '1.2.13', '1.2.13.dfsg', '3.0.11-1~deb12u2',
    '5.2.15-2+b2', '5.2.15-2+b13', '1.0-1ubuntu1', '1.0-1build1', 'a', 'Z', '1.0-a', '1.0-A', '0', '00',
  ];

  it('orders every pair as `dpkg --compare-versions` does', () => {
    const mismatches: string[] = [];
    for (const a of versions) {
      for (const b of versions) {
        const ours = Math.sign(compareVersions(a, b));
        // dpkg exits 0 when the relation holds
        const lt = run('dpkg', ['--compare-versions', a, 'lt', b]).status === 0;
        const eq = run('dpkg', ['--compare-versions', a, 'eq', b]).status === 0;
        const theirs = lt ? -1 : eq ? 0 : 1;
        if (ours !== theirs) mismatches.push(`${a} vs ${b}: ours ${ours}, dpkg ${theirs}`);
      }
    }
    assert.deepEqual(mismatches, []);
  });
});

describe('deb822 control data', () => {
  it('parses paragraphs, continuation lines and case-insensitive field names', () => {
    const [a, b] = parseControl('Package: a\nDescription: short\n long line\n .\n more\nDepends: b\n\n\nPackage: b\nversion: 1\n');
    assert.equal(a!.get('package'), 'a');
    assert.equal(a!.get('Description'), 'short\nlong line\n.\nmore');
    assert.equal(b!.get('Version'), '1');
    assert.equal(b!.line, 9);
  });

  it('names the line of a syntax error', () => {
    assert.throws(() => parseControl('Package: a\nnot a field\n', { source: 'Packages' }), /Packages:2: expected "Field: value"/);
  });
});

describe('relation fields', () => {
  it('parses alternatives, versions, architecture qualifiers and the old < > operators', () => {
    const groups = parseRelations('libc6 (>= 2.36), default-mta | mail-transport-agent, python3:any (<< 3.12), foo (< 2), bar [amd64] <!nocheck>');
    assert.deepEqual(groups, [
      [{ name: 'libc6', op: '>=', version: '2.36' }],
      [{ name: 'default-mta' }, { name: 'mail-transport-agent' }],
      [{ name: 'python3', archQualifier: 'any', op: '<<', version: '3.12' }],
      [{ name: 'foo', op: '<=', version: '2' }],
      [{ name: 'bar' }],
    ]);
    assert.throws(() => parseRelations('libc6 (>= ', 'Depends of x'), /Depends of x: cannot parse/);
  });
});

describe('apt sources', () => {
  it('reads one-line sources with options and comments', () => {
    const s = parseOneLineSources(
      '# a comment\ndeb [arch=amd64,arm64 signed-by=/usr/share/keyrings/x.gpg] http://mirror.example.invalid/debian bookworm main contrib\ndeb-src http://mirror.example.invalid/debian bookworm main\n',
      'sources.list',
    );
    assert.equal(s.length, 2);
    assert.deepEqual(s[0], {
      types: ['deb'], uris: ['http://mirror.example.invalid/debian'], suites: ['bookworm'], components: ['main', 'contrib'],
      architectures: ['amd64', 'arm64'], signedBy: '/usr/share/keyrings/x.gpg', origin: 'sources.list:2',
    });
  });

  it('reads deb822 sources, skipping disabled ones', () => {
    const s = parseDeb822Sources(
      'Types: deb deb-src\n# http://old.example.invalid\nURIs: http://mirror.example.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://other.example.invalid/\nSuites: sid\nComponents: main\nEnabled: no\n',
      'debian.sources',
    );
    assert.equal(s.length, 1);
    assert.deepEqual(s[0]!.suites, ['bookworm', 'bookworm-updates']);
    assert.deepEqual(s[0]!.uris, ['http://mirror.example.invalid/debian']);
    assert.equal(s[0]!.signedBy, '/usr/share/keyrings/debian-archive-keyring.gpg');
  });
});

describe("build --slim's filter (slim's table for docs, man, info and locales)", () => {
  const at = (entry: Entry): SourcedEntry => ({ ...entry, origin: 'test' });
  const o = { mtime: 0 };

  it('keeps copyright files, the doc links and what they point at, the man section folders and locale.alias; prunes the rest', () => {
    const entries = [
      dirEntry('usr/share/doc', o), dirEntry('usr/share/doc/gcc-12-base', o), fileEntry('usr/share/doc/gcc-12-base/changelog.gz', 'x'.repeat(100), o),
      symlinkEntry('usr/share/doc/libgcc-s1', 'gcc-12-base', o),
      dirEntry('usr/share/doc/bash', o), fileEntry('usr/share/doc/bash/copyright', 'c', o), fileEntry('usr/share/doc/bash/CHANGES.gz', 'y'.repeat(50), o),
      dirEntry('usr/share/doc/gone', o), fileEntry('usr/share/doc/gone/README', 'z', o),
      dirEntry('usr/share/man', o), dirEntry('usr/share/man/man1', o), fileEntry('usr/share/man/man1/bash.1.gz', 'm'.repeat(10), o),
      dirEntry('usr/share/man/de', o), dirEntry('usr/share/man/de/man1', o),
      dirEntry('usr/share/locale', o), fileEntry('usr/share/locale/locale.alias', 'a', o), dirEntry('usr/share/locale/de', o),
      fileEntry('usr/share/locale/de/bash.mo', 'l'.repeat(7), o),
      dirEntry('usr/share/zoneinfo', o), fileEntry('usr/share/zoneinfo/Europe', 'tz', o),
    ].map(at);
    const { entries: kept, saved } = slimEntries(entries);
    assert.deepEqual(kept.map((e) => e.path), [
      'usr/share/doc', 'usr/share/doc/gcc-12-base', 'usr/share/doc/libgcc-s1', 'usr/share/doc/bash', 'usr/share/doc/bash/copyright',
      'usr/share/man', 'usr/share/man/man1', 'usr/share/locale', 'usr/share/locale/locale.alias', 'usr/share/zoneinfo', 'usr/share/zoneinfo/Europe',
    ]);
    assert.deepEqual(Object.fromEntries(saved), { docs: 151, man: 10, locales: 7 });
  });
});
