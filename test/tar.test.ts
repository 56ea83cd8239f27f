import assert from 'node:assert/strict';
import { createReadStream, writeFileSync, readFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Entry } from '../src/tar/entry.js';
import { readTar, TarFormatError } from '../src/tar/reader.js';
import { writeTar } from '../src/tar/writer.js';
import { must, python, tempDir } from './helpers.js';

async function toBuffer(entries: Entry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of writeTar(entries)) parts.push(chunk);
  return Buffer.concat(parts);
}

async function readAll(source: AsyncIterable<Buffer> | Buffer) {
  const input = Buffer.isBuffer(source) ? Readable.from([source]) : source;
  const out = [];
  for await (const record of readTar(input)) {
    const chunks: Buffer[] = [];
    for await (const c of record.body()) chunks.push(c);
    out.push({ ...record.header, content: Buffer.concat(chunks) });
  }
  return out;
}

const content = (text: string) => () => Readable.from([Buffer.from(text)]);
const longDir = 'usr/share/' + 'd'.repeat(120) + '/' + 'e'.repeat(90);
const capability = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0x80, 0x00, 0x00, 0xc3, 0x28]);

const sample: Entry[] = [
  { path: 'bin', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 },
  { path: 'bin/ping', type: 'file', mode: 0o4755, uid: 0, gid: 0, mtime: 1700000000, size: 5, open: content('ping\n'), xattrs: { 'security.capability': capability } },
  { path: 'bin/sh', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1700000000, size: 0, linkname: '/bin/busybox' },
  { path: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, mtime: 1700000000, size: 0, devmajor: 1, devminor: 3 },
  { path: 'dev/sda', type: 'block', mode: 0o660, uid: 0, gid: 6, mtime: 1700000000, size: 0, devmajor: 8, devminor: 0 },
  { path: 'run/initctl', type: 'fifo', mode: 0o600, uid: 0, gid: 0, mtime: 1700000000, size: 0 },
  { path: `${longDir}/file.txt`, type: 'file', mode: 0o644, uid: 3000000, gid: 4000000, mtime: 1700000000, size: 3, open: content('abc') },
  { path: 'etc/naïve-café.conf', type: 'file', mode: 0o640, uid: 1000, gid: 1000, mtime: 1600000000, size: 0, open: content('') },
  { path: 'etc/link-to-long', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1700000000, size: 0, linkname: `/${longDir}/file.txt` },
  { path: 'usr/bin/ping-hard', type: 'hardlink', mode: 0o4755, uid: 0, gid: 0, mtime: 1700000000, size: 0, linkname: 'bin/ping' },
];

describe('tar writer', () => {
  it('writes what GNU tar lists back: types, numeric owners, modes, devices, long and non-ASCII names', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'x.tar'), await toBuffer(sample));
    const listing = must('tar', ['--numeric-owner', '--utc', '-tvf', join(dir, 'x.tar')]);
    const lines = listing.trim().split('\n');
    assert.equal(lines.length, sample.length);
    assert.match(lines[0]!, /^drwxr-xr-x 0\/0 +0 2023-11-14 22:13 bin\/$/);
    assert.match(lines[1]!, /^-rwsr-xr-x 0\/0 +5 .* bin\/ping$/);
    assert.match(lines[2]!, /^lrwxrwxrwx 0\/0 .* bin\/sh -> \/bin\/busybox$/);
    assert.match(lines[3]!, /^crw-rw-rw- 0\/0 +1,3 .* dev\/null$/);
    assert.match(lines[4]!, /^brw-rw---- 0\/6 +8,0 .* dev\/sda$/);
    assert.match(lines[5]!, /^prw------- 0\/0 .* run\/initctl$/);
    assert.ok(lines[6]!.includes(`3000000/4000000`) && lines[6]!.endsWith(`${longDir}/file.txt`), lines[6]);
    assert.ok(lines[7]!.endsWith('etc/naïve-café.conf'), lines[7]);
    assert.ok(lines[8]!.endsWith(`etc/link-to-long -> /${longDir}/file.txt`), lines[8]);
    assert.ok(lines[9]!.endsWith('usr/bin/ping-hard link to bin/ping'), lines[9]);
  });

  it('keeps binary xattr values byte for byte, as Python\'s tarfile reads them', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'x.tar'), await toBuffer(sample));
    const hex = python(
      `import tarfile,sys
t=tarfile.open(sys.argv[1])
m=t.getmember('bin/ping')
print(m.pax_headers['SCHILY.xattr.security.capability'].encode('utf-8','surrogateescape').hex())`,
      [join(dir, 'x.tar')],
    ).trim();
    assert.equal(hex, capability.toString('hex'));
  });

  it('is byte-for-byte deterministic and ends with two zero blocks', async () => {
    const a = await toBuffer(sample);
    const b = await toBuffer(sample);
    assert.ok(a.equals(b));
    assert.equal(a.length % 512, 0);
    assert.ok(a.subarray(a.length - 1024).every((x) => x === 0));
  });

  it('refuses content that is shorter or longer than the header says', async () => {
    const short: Entry = { path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 10, open: content('abc') };
    await assert.rejects(toBuffer([short]), /"f" changed while it was read: expected 10 bytes, got 3/);
    const long: Entry = { ...short, size: 2 };
    await assert.rejects(toBuffer([long]), /expected 2 bytes, got more/);
  });
});

describe('tar reader', () => {
  it('round-trips everything the writer writes', async () => {
    const back = await readAll(await toBuffer(sample));
    assert.equal(back.length, sample.length);
    for (const [i, e] of sample.entries()) {
      const r = back[i]!;
      assert.equal(r.path.replace(/\/$/, ''), e.path);
      assert.equal(r.type, e.type);
      assert.equal(r.mode, e.mode);
      assert.equal(r.uid, e.uid);
      assert.equal(r.gid, e.gid);
      assert.equal(r.mtime, e.mtime);
      if (e.linkname) assert.equal(r.linkname, e.linkname);
      if (e.devmajor !== undefined) assert.deepEqual([r.devmajor, r.devminor], [e.devmajor, e.devminor]);
    }
    assert.ok(back[1]!.xattrs!['security.capability']!.equals(capability));
    assert.equal(back[6]!.content.toString(), 'abc');
  });

  for (const format of ['gnu', 'posix', 'ustar', 'v7', 'oldgnu']) {
    it(`reads GNU tar's --format=${format} archives`, async () => {
      const dir = tempDir();
      const src = join(dir, 'src');
      const deep = format === 'v7' ? 'a/b' : `a/${'x'.repeat(90)}/${'y'.repeat(60)}`;
      mkdirSync(join(src, deep), { recursive: true });
      writeFileSync(join(src, deep, 'f.txt'), 'hello\n');
      symlinkSync('f.txt', join(src, deep, 'link'));
      must('tar', [`--format=${format}`, '--owner=1234', '--group=5678', '--numeric-owner', '-cf', join(dir, 'a.tar'), '-C', src, 'a']);
      const entries = await readAll(createReadStream(join(dir, 'a.tar')));
      const file = entries.find((e) => e.path === `${deep}/f.txt`);
      assert.ok(file, `no ${deep}/f.txt in ${entries.map((e) => e.path).join(', ')}`);
      assert.equal(file.content.toString(), 'hello\n');
      assert.equal(file.uid, 1234);
      assert.equal(file.gid, 5678);
      const link = entries.find((e) => e.path === `${deep}/link`);
      assert.equal(link?.type, 'symlink');
      assert.equal(link?.linkname, 'f.txt');
      assert.equal(entries.find((e) => e.path.replace(/\/$/, '') === 'a')?.type, 'directory');
    });
  }

  it('reads xattrs, devices and large ids from an archive Python writes', async () => {
    const dir = tempDir();
    python(
      `import tarfile,sys,io
t=tarfile.open(sys.argv[1],'w',format=tarfile.PAX_FORMAT)
i=tarfile.TarInfo('usr/bin/ping'); i.size=3; i.uid=5000000; i.mode=0o755
i.pax_headers={'SCHILY.xattr.security.capability': bytes.fromhex('0100000200200000').decode('utf-8','surrogateescape')}
t.addfile(i, io.BytesIO(b'abc'))
d=tarfile.TarInfo('dev/tty'); d.type=tarfile.CHRTYPE; d.devmajor=5; d.devminor=0
t.addfile(d)
t.close()`,
      [join(dir, 'p.tar')],
    );
    const entries = await readAll(createReadStream(join(dir, 'p.tar')));
    assert.equal(entries[0]!.uid, 5000000);
    assert.equal(entries[0]!.xattrs!['security.capability']!.toString('hex'), '0100000200200000');
    assert.deepEqual([entries[1]!.type, entries[1]!.devmajor, entries[1]!.devminor], ['char', 5, 0]);
  });

  it('names corrupt and truncated archives', async () => {
    const good = await toBuffer(sample);
    await assert.rejects(readAll(good.subarray(0, 1024 + 100)), (e: Error) => e instanceof TarFormatError && /truncated/.test(e.message));
    // Cut right after a PAX header: the entry it describes is missing.
    await assert.rejects(readAll(good.subarray(0, 512 + 1024)), /truncated archive/);
    const bad = Buffer.from(good);
    bad[10] = bad[10]! ^ 0xff;
    await assert.rejects(readAll(bad), /corrupt header at byte 0.*checksum/);
    await assert.rejects(readAll(Buffer.alloc(0)), /empty input/);
    await assert.rejects(readAll(Buffer.from('this is not a tar archive at all'.repeat(20))), /truncated archive|corrupt header/);
  });

  it('refuses an archive cut at an entry boundary (no end-of-archive marker), unless told to accept it', async () => {
    const good = await toBuffer(sample.slice(0, 2));
    const cut = good.subarray(0, good.length - 1024);
    await assert.rejects(readAll(cut), /truncated archive: it ends at byte \d+, after 2 entries, without the end-of-archive marker/);
    const lenient = [];
    for await (const r of readTar(Readable.from([cut]), { allowMissingEnd: true })) lenient.push(r.header.path);
    assert.deepEqual(lenient, ['bin/', 'bin/ping']);
  });

  it('clamps times before 1970 (GNU base-256 and PAX) to the epoch', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'old'), 'x');
    for (const format of ['gnu', 'posix']) {
      must('tar', [`--format=${format}`, '--mtime=1960-01-01 00:00:00 UTC', '-cf', join(dir, `${format}.tar`), '-C', dir, 'old']);
      const [entry] = await readAll(createReadStream(join(dir, `${format}.tar`)));
      assert.equal(entry!.mtime, 0, format);
    }
  });

  it('treats an empty PAX path as no override and refuses names that are not UTF-8', async () => {
    const dir = tempDir();
    python(
      `import tarfile,sys,io
t=tarfile.open(sys.argv[1],'w',format=tarfile.PAX_FORMAT)
i=tarfile.TarInfo('realname'); i.size=1; i.pax_headers={'path': ''}
t.addfile(i, io.BytesIO(b'x'))
t.close()
t=tarfile.open(sys.argv[2],'w',format=tarfile.GNU_FORMAT,encoding='latin-1')
i=tarfile.TarInfo('caf\xe9'); i.size=1
t.addfile(i, io.BytesIO(b'x'))
t.close()`,
      [join(dir, 'empty-path.tar'), join(dir, 'latin1.tar')],
    );
    assert.equal((await readAll(createReadStream(join(dir, 'empty-path.tar'))))[0]!.path, 'realname');
    await assert.rejects(readAll(createReadStream(join(dir, 'latin1.tar'))), /entry name is not valid UTF-8 \(bytes: 636166e9\)/);
  });

  it('refuses device numbers a tar header cannot hold', async () => {
    const big: Entry = { path: 'dev/x', type: 'char', mode: 0o600, uid: 0, gid: 0, mtime: 0, size: 0, devmajor: 1, devminor: 0o10000000 };
    await assert.rejects(toBuffer([big]), /"dev\/x": device devminor 2097152 is too large for a tar header/);
  });

  it('reads the 10 KiB empty archive `tar c --files-from /dev/null` makes as no entries', async () => {
    const empty = Buffer.from(must('tar', ['-c', '--files-from', '/dev/null'], { encoding: 'latin1' }), 'latin1');
    assert.equal(empty.length, 10240);
    assert.deepEqual(await readAll(empty), []);
    void readFileSync;
  });
});
