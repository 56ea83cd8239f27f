import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalizeEntries, type SourcedEntry } from '../src/entries/entry-set.js';
import { compareEntryPaths, normalizeEntryPath, sortByEntryPath } from '../src/entries/path.js';
import { UserError } from '../src/errors.js';

function e(path: string, over: Partial<SourcedEntry> = {}): SourcedEntry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1700000000, size: 0, origin: `entry "${path}"`, ...over };
}

describe('entry paths', () => {
  it('normalises the ways tars spell a path', () => {
    assert.equal(normalizeEntryPath('./usr//bin/./sh'), 'usr/bin/sh');
    assert.equal(normalizeEntryPath('usr/bin/'), 'usr/bin');
    assert.equal(normalizeEntryPath('a/b/../c'), 'a/c');
    assert.equal(normalizeEntryPath('./'), '');
  });

  it('refuses paths that leave the root or are absolute', () => {
    assert.throws(() => normalizeEntryPath('../x'), /leaves the root/);
    assert.throws(() => normalizeEntryPath('a/../../x'), /leaves the root/);
    assert.throws(() => normalizeEntryPath('/etc/passwd'), /absolute/);
  });

  it('orders depth-first with siblings in byte order, as tar --sort=name', () => {
    const paths = ['a-c', 'a/b', 'a', 'B', 'a/b/c', 'a.d', 'é', 'z'];
    const sorted = sortByEntryPath(paths.map((path) => ({ path }))).map((p) => p.path);
    assert.deepEqual(sorted, ['B', 'a', 'a/b', 'a/b/c', 'a-c', 'a.d', 'z', 'é']);
    assert.deepEqual([...paths].sort(compareEntryPaths), sorted);
  });

  it('compares as the UTF-8 bytes do, characters beyond U+FFFF included', () => {
    // The reference: UTF-8 bytes with '/' as the lowest byte, compared by Buffer.compare.
    const bytes = (p: string) => Buffer.from(p.replaceAll('/', '\0'), 'utf8');
    const alphabet = ['/', '-', '.', 'a', 'B', 'é', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffee', '\uffff', '😀', '\u{10000}', '\u{10ffff}'];
    let seed = 42;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const paths = Array.from({ length: 400 }, () => Array.from({ length: 1 + random(6) }, () => alphabet[random(alphabet.length)]).join(''));
    const sign = (n: number) => Math.sign(n);
    for (let i = 0; i < paths.length; i++) {
      const [a, b] = [paths[i]!, paths[(i * 7 + 3) % paths.length]!];
      assert.equal(sign(compareEntryPaths(a, b)), sign(Buffer.compare(bytes(a), bytes(b))), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
    const expected = [...paths].sort((a, b) => Buffer.compare(bytes(a), bytes(b)));
    assert.deepEqual(sortByEntryPath(paths.map((path) => ({ path }))).map((p) => p.path), expected);
  });
});

describe('canonical entry sets', () => {
  it('sorts, drops the root entry and clamps mtimes to SOURCE_DATE_EPOCH', () => {
    const out = canonicalizeEntries([e('./b', { mtime: 1800000000 }), e('./', { type: 'directory' }), e('./a', { type: 'directory', mtime: 100 })], { maxMtime: 1700000000 });
    assert.deepEqual(out.map((x) => [x.path, x.mtime]), [['a', 100], ['b', 1700000000]]);
  });

  it('maps every owner with --owner and forgets owner names', () => {
    const out = canonicalizeEntries([e('f', { uid: 1000, gid: 1000, uname: 'me', gname: 'me' })], { owner: { uid: 0, gid: 0 } });
    assert.deepEqual([out[0]!.uid, out[0]!.gid, out[0]!.uname], [0, 0, undefined]);
  });

  it('moves the content of a hardlink set to the first name in order', () => {
    const open = () => { throw new Error('not read'); };
    const out = canonicalizeEntries([e('z/file', { size: 4, open, mode: 0o755 }), e('a/link', { type: 'hardlink', linkname: 'z/file' }), e('m/link2', { type: 'hardlink', linkname: './a/link' })]);
    assert.deepEqual(out.map((x) => [x.path, x.type, x.linkname ?? '', x.size]), [
      ['a/link', 'file', '', 4],
      ['m/link2', 'hardlink', 'a/link', 0],
      ['z/file', 'hardlink', 'a/link', 0],
    ]);
    assert.equal(out[0]!.mode, 0o755);
    assert.equal(out[0]!.open, open);
  });

  const refused: [string, SourcedEntry[], RegExp][] = [
    ['a ../ path', [e('../x')], /entry "\.\.\/x": path "\.\.\/x" leaves the root/],
    ['an absolute path', [e('/etc/shadow')], /absolute/],
    ['writing through a symlink', [e('evil', { type: 'symlink', linkname: '/etc' }), e('evil/passwd')], /"evil\/passwd" is written through the symlink "evil" -> "\/etc"/],
    ['writing below a file', [e('f'), e('f/g')], /below "f", which is a file/],
    ['a hardlink out of the root', [e('h', { type: 'hardlink', linkname: '../../etc/shadow' })], /hardlink target path .* leaves the root/],
    ['a hardlink to nothing', [e('h', { type: 'hardlink', linkname: 'missing' })], /points at "missing", which is not in the archive/],
    ['a hardlink to a directory', [e('d', { type: 'directory' }), e('h', { type: 'hardlink', linkname: 'd' })], /points at the directory "d"/],
    ['a hardlink loop', [e('a', { type: 'hardlink', linkname: 'b' }), e('b', { type: 'hardlink', linkname: 'a' })], /hardlink loop/],
    ['conflicting duplicates', [e('etc/passwd', { size: 1 }), e('./etc/passwd', { size: 2 })], /duplicate entry for "etc\/passwd"/],
    ['a directory and a file of one name', [e('x', { type: 'directory' }), e('x')], /duplicate entry for "x"/],
  ];
  for (const [what, entries, message] of refused) {
    it(`refuses ${what}, naming the entry`, () => {
      assert.throws(() => canonicalizeEntries(entries), (err: Error) => err instanceof UserError && message.test(err.message));
    });
  }

  it('accepts a directory, symlink or device listed twice the same way', () => {
    const out = canonicalizeEntries([
      e('d', { type: 'directory' }), e('./d/', { type: 'directory' }),
      e('l', { type: 'symlink', linkname: 'x' }), e('./l', { type: 'symlink', linkname: 'x' }),
      e('n', { type: 'char', devmajor: 1, devminor: 3 }), e('n', { type: 'char', devmajor: 1, devminor: 3 }),
    ]);
    assert.deepEqual(out.map((x) => x.path), ['d', 'l', 'n']);
    assert.throws(() => canonicalizeEntries([e('l', { type: 'symlink', linkname: 'x' }), e('l', { type: 'symlink', linkname: 'y' })]), /duplicate entry for "l"/);
  });

  it('refuses a non-directory standing for the root', () => {
    assert.throws(() => canonicalizeEntries([e('./')]), /a file cannot stand for the root directory/);
  });
});

describe('whiteouts', () => {
  it('names whiteouts and opaque markers as the image-spec does, and reads them back', async () => {
    const { whiteoutEntry, opaqueEntry, classifyWhiteout } = await import('../src/layer/whiteout.js');
    assert.equal(whiteoutEntry('etc/motd', 0).path, 'etc/.wh.motd');
    assert.equal(whiteoutEntry('top', 0).path, '.wh.top');
    assert.equal(opaqueEntry('var/cache', 0).path, 'var/cache/.wh..wh..opq');
    assert.deepEqual(classifyWhiteout('etc/.wh.motd'), { kind: 'whiteout', target: 'etc/motd' });
    assert.deepEqual(classifyWhiteout('var/cache/.wh..wh..opq'), { kind: 'opaque', dir: 'var/cache' });
    assert.equal(classifyWhiteout('etc/motd'), undefined);
  });
});
