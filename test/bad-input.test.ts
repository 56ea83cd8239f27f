import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { busyboxRootfs, cli, cliOk, CLI, EPOCH, listTree, must, python, tempDir } from './helpers.js';

/** Writes a tar with Python's tarfile: entries given as [name, type, linkname]. */
function craftTar(file: string, entries: [string, 'file' | 'dir' | 'symlink' | 'hardlink', string?][]): string {
  python(
    `import tarfile,sys,io,json
t=tarfile.open(sys.argv[1],'w',format=tarfile.PAX_FORMAT)
for name,kind,link in json.loads(sys.argv[2]):
    i=tarfile.TarInfo(name)
    if kind=='dir': i.type=tarfile.DIRTYPE
    elif kind=='symlink': i.type=tarfile.SYMTYPE; i.linkname=link
    elif kind=='hardlink': i.type=tarfile.LNKTYPE; i.linkname=link
    data=b'x' if kind=='file' else None
    if data: i.size=len(data)
    t.addfile(i, io.BytesIO(data) if data else None)
t.close()`,
    [file, JSON.stringify(entries.map(([n, k, l]) => [n, k, l ?? '']))],
  );
  return file;
}

describe('bad input: a clear error, a non-zero exit, nothing written', () => {
  let work: string;
  let out: string;

  before(() => {
    work = tempDir('bad');
    out = join(work, 'out');
    mkdirSync(out);
  });

  /** Runs an import that must fail with `message`, leaving the output folder (and $TMPDIR) empty. */
  function refuses(args: string[], message: RegExp, input?: Buffer): void {
    const tmp = join(work, `tmp-${Math.random().toString(16).slice(2)}`);
    mkdirSync(tmp);
    const r = cli(args, { env: { TMPDIR: tmp }, ...(input ? { input } : {}) });
    assert.notEqual(r.status, 0, `expected failure, got: ${r.stdout}`);
    assert.match(r.stderr, /^fromscratch: error: /);
    assert.match(r.stderr, message);
    assert.ok(!r.stderr.includes('    at '), `a stack trace was printed:\n${r.stderr}`);
    assert.deepEqual(listTree(out), [], 'something was left at the destination');
    assert.deepEqual(listTree(tmp), [], 'temporary files were left behind');
  }

  const dest = () => `oci:${join(out, 'image')}:latest`;

  it('a missing source', () => refuses(['import', join(work, 'nope'), dest()], /source ".*nope" does not exist/));

  it('an archive in an unsupported compression', () => {
    const file = join(work, 'x.tar.bz2');
    must('sh', ['-c', `tar -c -C / etc/hostname | bzip2 -c > '${file}'`]);
    refuses(['import', file, dest()], /bzip2 compression is not supported/);
  });

  it('a file that is not an archive', () => {
    const file = join(work, 'notes.txt');
    writeFileSync(file, 'hello, this is not a tar file\n'.repeat(40));
    refuses(['import', file, dest()], /notes\.txt".*corrupt header at byte 0/);
  });

  for (const [tool, ext] of [['gzip', 'gz'], ['xz', 'xz'], ['zstd', 'zst']] as const) {
    it(`a truncated ${tool} archive`, () => {
      const rootfs = join(work, 'etc-copy');
      must('sh', ['-c', `mkdir -p '${rootfs}' && cp -r /usr/share/doc/tar '${rootfs}/' 2>/dev/null || cp -r /etc/apt '${rootfs}/'`]);
      const full = join(work, `full.tar.${ext}`);
      must('sh', ['-c', `tar -c -C '${rootfs}' . | ${tool} -c > '${full}'`]);
      const data = readFileSync(full);
      const cut = join(work, `cut.tar.${ext}`);
      writeFileSync(cut, data.subarray(0, Math.floor(data.length / 2)));
      refuses(['import', cut, dest()], new RegExp(`cut\\.tar\\.${ext}".*(${tool} data is corrupt or truncated|truncated)`));
    });
  }

  it('a truncated plain archive', () => {
    const full = join(work, 'plain.tar');
    must('tar', ['-cf', full, '-C', '/usr/share/doc', 'tar']);
    const cut = join(work, 'plain-cut.tar');
    writeFileSync(cut, readFileSync(full).subarray(0, 512 + 100));
    refuses(['import', cut, dest()], /plain-cut\.tar".*truncated archive/);
  });

  it('a plain archive cut exactly at an entry boundary', () => {
    const full = join(work, 'boundary.tar');
    python(
      `import tarfile,sys,io
t=tarfile.open(sys.argv[1],'w',format=tarfile.USTAR_FORMAT)
for n in ('a','b'):
    i=tarfile.TarInfo(n); i.size=1; t.addfile(i, io.BytesIO(b'x'))
t.close()`,
      [full],
    );
    const cut = join(work, 'boundary-cut.tar');
    writeFileSync(cut, readFileSync(full).subarray(0, 1024));
    refuses(['import', cut, dest()], /boundary-cut\.tar".*without the end-of-archive marker/);
  });

  it('a folder with a file name that is not UTF-8', () => {
    const dir = join(work, 'latin1-names');
    mkdirSync(dir);
    must('python3', ['-c', `open(b'${dir}/caf\\xe9', 'w').close()`]);
    refuses(['import', dir, dest()], /latin1-names\/caf.*the file name is not valid UTF-8 \(bytes: 636166e9\)/);
  });

  it('a compression level the compression does not have, before reading anything', () => {
    refuses(['import', '--compression-level', '12', join(work, 'nope'), dest()], /compression level 12 is out of range for gzip \(1-9\)/);
  });

  it('a SOURCE_DATE_EPOCH that is not a time', () => {
    const r = cli(['import', '--empty', dest()], { env: { SOURCE_DATE_EPOCH: '99999999999999' } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /SOURCE_DATE_EPOCH="99999999999999" is not a whole number of seconds/);
    assert.deepEqual(listTree(out), []);
  });

  it('an entry that climbs out with ../', () => {
    refuses(['import', craftTar(join(work, 'dotdot.tar'), [['ok', 'file'], ['../escape', 'file']]), dest()], /entry 2 "\.\.\/escape" of .*dotdot\.tar.*leaves the root/);
  });

  it('an absolute entry', () => {
    refuses(['import', craftTar(join(work, 'abs.tar'), [['/etc/cron.d/x', 'file']]), dest()], /entry 1 "\/etc\/cron\.d\/x".*absolute/);
  });

  it('a symlink used to write outside the root', () => {
    const file = craftTar(join(work, 'symlink.tar'), [['etc', 'symlink', '../../../../etc'], ['etc/cron.d', 'dir'], ['etc/cron.d/evil', 'file']]);
    refuses(['import', file, dest()], /"etc\/cron\.d" is written through the symlink "etc" -> "\.\.\/\.\.\/\.\.\/\.\.\/etc"/);
  });

  it('a hardlink to a file outside the root', () => {
    refuses(['import', craftTar(join(work, 'hard.tar'), [['shadow', 'hardlink', '../../etc/shadow']]), dest()], /entry 1 "shadow".*hardlink target path .* leaves the root/);
  });

  it('duplicate conflicting entries', () => {
    refuses(['import', craftTar(join(work, 'dup.tar'), [['bin', 'dir'], ['bin/sh', 'file'], ['./bin/sh', 'symlink', 'busybox']]), dest()], /entry 3 "\.\/bin\/sh".*duplicate entry for "bin\/sh", which entry 2 "bin\/sh"/);
  });

  it('an empty standard input', () => refuses(['import', '-', dest()], /standard input: empty input: not a tar archive/, Buffer.alloc(0)));

  for (const [ref, message] of [
    ['foo:bar', /"foo:bar" is not an image reference: expected one of oci:PATH, oci-archive:PATH, docker-archive:PATH/],
    ['docker://example.invalid/x:1', /docker:\/\/ \(registry\) transport is not available in this version/],
    ['oci:', /the oci: reference has no path/],
    ['/just/a/path', /is not an image reference/],
    [`oci:${'x'}:Bad Tag!`, /"Bad Tag!" is not a valid tag/],
    ['docker-archive:x.tar:UPPER/case:tag', /is not a valid image name\[:tag\]/],
  ] as const) {
    it(`a malformed destination ${ref}`, () => refuses(['import', '--empty', ref], message));
  }

  it('a destination that exists and is not a layout', () => {
    const other = join(work, 'not-a-layout');
    mkdirSync(other);
    writeFileSync(join(other, 'precious.txt'), 'keep me');
    const r = cli(['import', '--empty', `oci:${other}`]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /exists and is not an OCI image layout/);
    assert.deepEqual(listTree(other), ['precious.txt']);
  });

  it('a failed write leaves an existing layout exactly as it was', () => {
    const rootfs = busyboxRootfs(join(work, 'rootfs'));
    const layout = join(work, 'existing');
    cliOk(['import', rootfs, `oci:${layout}:one`]);
    const before = listTree(layout);
    const index = readFileSync(join(layout, 'index.json'));
    const bad = craftTar(join(work, 'bad-for-existing.tar'), [['../x', 'file']]);
    const r = cli(['import', bad, `oci:${layout}:two`]);
    assert.notEqual(r.status, 0);
    assert.deepEqual(listTree(layout), before);
    assert.ok(readFileSync(join(layout, 'index.json')).equals(index));
    must('skopeo', ['inspect', `oci:${layout}:one`]);
  });

  it('an interrupted import removes its temporary files and writes nothing', async () => {
    const tmp = join(work, 'tmp-interrupted');
    mkdirSync(tmp);
    const child = spawn(CLI, ['import', '-', `oci:${join(out, 'interrupted')}`], { env: { ...process.env, TMPDIR: tmp, SOURCE_DATE_EPOCH: EPOCH }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Half an archive, then the writer stalls, as a slow pipe would.
    child.stdin.write(readFileSync('/bin/busybox').subarray(0, 0) as Buffer);
    child.stdin.write(Buffer.from(must('tar', ['-c', '-C', '/usr/share/doc', 'tar'], { encoding: 'latin1' }), 'latin1').subarray(0, 4096));
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(readdirSync(tmp).length > 0, 'the import should have started spooling');
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 143);
    assert.match(stderr, /interrupted \(SIGTERM\); nothing was written/);
    assert.deepEqual(listTree(tmp), []);
    assert.deepEqual(listTree(out), []);
  });
});
