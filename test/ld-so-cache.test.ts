import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { scanDirectory } from '../src/entries/directory-source.js';
import { readElfDynamic, readElfHeader, EM_X86_64 } from '../src/elf/elf.js';
import { libcmp } from '../src/elf/ld-cache.js';
import { EffectContext } from '../src/packages/effects/context.js';
import { debianLibc, ldSoCache } from '../src/packages/effects/ld-so-cache.js';
import { cliOk, EPOCH, must, sharedDir, tempDir } from './helpers.js';

/** The root filesystem of a built OCI image (one layer), unpacked as root with owners and links. */
function unpack(layout: string, into: string): string {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  mkdirSync(into, { recursive: true });
  must('tar', ['-xzf', join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7)), '-C', into]);
  return into;
}

/** Symlinks under a root, `path -> target`, sorted. */
const symlinks = (root: string) => must('find', [root, '-type', 'l', '-printf', '%P -> %l\\n']).trim().split('\n').sort();

/**
 * The oracle is the image's own ldconfig (what libc-bin's trigger runs), run in the unpacked image
 * with chroot: tests run as root on an amd64 host, so the bookworm amd64 binary runs natively.
 */
function realLdconfig(root: string, args: string[] = []): Buffer {
  rmSync(join(root, 'etc/ld.so.cache'), { force: true });
  must('chroot', [root, '/sbin/ldconfig', ...args]);
  return readFileSync(join(root, 'etc/ld.so.cache'));
}

const listing = (root: string) => must('chroot', [root, '/sbin/ldconfig', '-p']);

describe('ld.so.cache: written like ldconfig would', () => {
  let layout: string;
  let rootfs: string;

  before(() => {
    layout = join(tempDir('ldso'), 'image');
    cliOk(['build', `oci:${layout}:x`, '--suite', 'bookworm', '--preset', 'minbase'], { env: { FROMSCRATCH_CACHE: join(sharedDir(), 'cache') } });
    rootfs = unpack(layout, join(tempDir('ldso'), 'root'));
  });

  it('bookworm minbase: byte-identical to what the image\'s ldconfig writes, and no SONAME link is missing', () => {
    const ours = readFileSync(join(rootfs, 'etc/ld.so.cache'));
    const before = symlinks(rootfs);
    const oursListing = listing(rootfs);
    const theirs = realLdconfig(rootfs);
    // On a mismatch, the listings say what differs before the bytes do.
    assert.equal(oursListing, listing(rootfs));
    assert.ok(ours.equals(theirs), `ld.so.cache differs: ours ${ours.length} bytes, ldconfig's ${theirs.length}`);
    assert.match(oursListing, /^\d+ libs found/);
    assert.ok(Number(/^(\d+)/.exec(oursListing)![1]) > 50);
    assert.deepEqual(symlinks(rootfs), before, 'ldconfig made or changed links the build did not');
  });

  it('extra folders, includes, glibc-hwcaps, dev links, missing SONAME links and broken files: same cache and links as ldconfig', async () => {
    const root = join(tempDir('ldso'), 'edge');
    must('cp', ['-a', `${rootfs}/.`, root]);
    rmSync(join(root, 'etc/ld.so.cache'));
    const libz = must('find', [join(root, 'usr/lib/x86_64-linux-gnu'), '-name', 'libz.so.1.*', '-type', 'f']).trim();
    const lib = join(root, 'opt/t/lib');
    mkdirSync(join(lib, 'glibc-hwcaps/x86-64-v3'), { recursive: true });
    mkdirSync(join(lib, 'glibc-hwcaps/x86-64-v2'), { recursive: true });
    mkdirSync(join(root, 'opt/t/more'), { recursive: true });
    writeFileSync(join(root, 'etc/ld.so.conf.d/zz-test.conf'), '# test\n/opt/t/lib/   # trailing slash and comment\ninclude ../ld.so.conf.extra/*.conf\n\thwcap 0 nosegneg\n');
    mkdirSync(join(root, 'etc/ld.so.conf.extra'));
    writeFileSync(join(root, 'etc/ld.so.conf.extra/a.conf'), '/opt/t/more=libc6\n/opt/t/lib\n/no/such/dir');
    copyFileSync(libz, join(lib, 'libzfoo.so.1.2.3')); // SONAME libz.so.1, no link yet: ldconfig makes one
    copyFileSync(libz, join(lib, 'glibc-hwcaps/x86-64-v3/libzfoo.so.1.2.3'));
    symlinkSync('libz.so.1', join(lib, 'libz.so')); // a dev link, dangling until the SONAME link exists
    writeFileSync(join(lib, 'libtrunc.so.1'), readFileSync(libz).subarray(0, 200)); // truncated ELF
    writeFileSync(join(lib, 'libtext.so.2'), 'not a library, long enough to be read as one by ldconfig........\n');
    writeFileSync(join(lib, 'libscript.so'), '/* GNU ld script */\nGROUP ( libz.so.1 )\n');
    copyFileSync(libz, join(root, 'opt/t/more/libmore.so.7')); // SONAME libz.so.1 again, in another folder
    symlinkSync('libmore.so.7', join(root, 'opt/t/more/libz.so.1')); // already right: left alone

    const scan = await scanDirectory(root);
    const ctx = new EffectContext(scan.entries, new Map(), Number(EPOCH), 'amd64');
    await ldSoCache(ctx, debianLibc(versionOf(root, 'libc-bin'), 'amd64'));
    const cacheEntry = ctx.added.find((e) => e.path === 'etc/ld.so.cache')!;
    const chunks: Buffer[] = [];
    for await (const c of cacheEntry.open!()) chunks.push(c as Buffer);
    const ours = Buffer.concat(chunks);
    const ourLinks = ctx.added.filter((e) => e.type === 'symlink').map((e) => `${e.path} -> ${e.linkname}`).sort();

    const before = new Set(symlinks(root));
    const theirs = realLdconfig(root);
    const made = symlinks(root).filter((l) => !before.has(l));
    writeFileSync(join(root, 'ours.cache'), ours);
    const body = (text: string) => text.slice(text.indexOf('\n')); // the first line names the file
    assert.equal(body(must('chroot', [root, '/sbin/ldconfig', '-p', '-C', '/ours.cache'])), body(listing(root)));
    assert.ok(ours.equals(theirs), 'ld.so.cache differs from ldconfig\'s');
    assert.deepEqual(ourLinks, made);
    assert.deepEqual(made, ['opt/t/lib/libz.so.1 -> libzfoo.so.1.2.3']);
    assert.match(listing(root), /libz\.so\.1 \(libc6,x86-64, hwcap: "x86-64-v3"\) => \/opt\/t\/lib\/glibc-hwcaps\/x86-64-v3\/libzfoo\.so\.1\.2\.3/);
    assert.ok(ctx.notes.some((n) => n.includes('/opt/t/lib/libtrunc.so.1') && n.includes('/opt/t/lib/libtext.so.2') && !n.includes('libscript')), ctx.notes.join('\n'));
    assert.equal(readlinkSync(join(root, 'opt/t/more/libz.so.1')), 'libmore.so.7');
  });
});

describe('ld.so.cache for arm64, built on this host', () => {
  // The oracle is the image's own (static) aarch64 ldconfig under qemu-user, when the host has it.
  const qemu = ['/usr/bin/qemu-aarch64-static', '/usr/bin/qemu-aarch64'].find((q) => existsSync(q));
  it('is byte-identical to what the arm64 image\'s ldconfig writes', { skip: qemu ? false : 'no qemu-aarch64 on this host' }, () => {
    const layout = join(tempDir('ldso'), 'arm64');
    cliOk(['build', `oci:${layout}:x`, '--suite', 'bookworm', '--preset', 'minbase', '--arch', 'arm64'], { env: { FROMSCRATCH_CACHE: join(sharedDir(), 'cache') } });
    const root = unpack(layout, join(tempDir('ldso'), 'arm64-root'));
    const ours = readFileSync(join(root, 'etc/ld.so.cache'));
    rmSync(join(root, 'etc/ld.so.cache'));
    must(qemu!, [join(root, 'sbin/ldconfig'), '-r', root, '-X']);
    assert.ok(ours.equals(readFileSync(join(root, 'etc/ld.so.cache'))), 'arm64 ld.so.cache differs from ldconfig\'s');
    assert.match(must('ldconfig', ['-p', '-C', join(root, 'etc/ld.so.cache')]), /libc\.so\.6 \(libc6,AArch64\) => \/lib\/aarch64-linux-gnu\/libc\.so\.6/);
  });
});

function versionOf(root: string, pkg: string): string {
  const status = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8');
  const para = status.split('\n\n').find((p) => p.startsWith(`Package: ${pkg}\n`))!;
  return /^Version: (.*)$/m.exec(para)![1]!;
}

describe('ELF reader and name order', () => {
  it('reads class, machine, SONAME and needed libraries of a host library; rejects truncated and foreign input', () => {
    const libz = must('sh', ['-c', 'readlink -f /lib/x86_64-linux-gnu/libz.so.1']).trim();
    const data = readFileSync(libz);
    const info = readElfDynamic(data)!;
    assert.equal(info.elfClass, 64);
    assert.equal(info.machine, EM_X86_64);
    assert.equal(info.soname, 'libz.so.1');
    assert.ok(info.needed.includes('libc.so.6'));
    for (const n of [0, 3, 20, 63, 64, 200, 1000]) assert.equal(readElfDynamic(data.subarray(0, n)), undefined, `truncated to ${n}`);
    assert.equal(readElfHeader(Buffer.from('#!/bin/sh\necho not elf\n'.repeat(4))), undefined);
    // Corrupt program header offset: no throw, no result.
    const bad = Buffer.from(data);
    bad.writeBigUInt64LE(0xffffffffffn, 32);
    assert.equal(readElfDynamic(bad), undefined);
  });

  it('orders names like _dl_cache_libcmp: digit runs as numbers', () => {
    assert.ok(libcmp('libfoo.so.10', 'libfoo.so.9') > 0);
    assert.ok(libcmp('libfoo.so.2', 'libfoo.so.2.1') < 0);
    assert.ok(libcmp('liba.so', 'libb.so') < 0);
    assert.equal(libcmp('libc.so.6', 'libc.so.6'), 0);
    assert.ok(libcmp('lib1', 'liba') > 0);
  });
});
