import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readChecked, tryWriteChecked, writeChecked } from '../src/packages/fetch/checked-record.js';
import { ContentStore } from '../src/packages/fetch/store.js';
import { tempDir } from './helpers.js';

describe('cache: checked records and temporaries', () => {
  it('reads a record back, and treats a damaged one as absent', async () => {
    const path = join(tempDir('cache'), 'r.json');
    await writeChecked(path, { a: 1, b: ['x'] });
    assert.deepEqual(await readChecked(path), { a: 1, b: ['x'] });
    writeFileSync(path, readFileSync(path, 'utf8').replace('"a":1', '"a":2'));
    assert.equal(await readChecked(path), undefined);
    assert.equal(await readChecked(join(tempDir('cache'), 'missing.json')), undefined);
  });

  it('does not fail a build when a record cannot be written', async () => {
    const blocker = join(tempDir('cache'), 'file');
    writeFileSync(blocker, '');
    assert.equal(await tryWriteChecked(join(blocker, 'below', 'r.json'), { a: 1 }), false);
    assert.equal(await tryWriteChecked(join(tempDir('cache'), 'sub', 'r.json'), { a: 1 }), true);
  });

  it("removes temporaries of this host's dead processes, and nothing else", async () => {
    const root = tempDir('cache');
    const tmp = join(root, 'tmp');
    const host = hostname();
    const dead = join(tmp, `fromscratch-layer-p4194305@${host}-AbC123`); // above Linux's largest pid
    const alive = join(tmp, `fromscratch-unpack-p${process.pid}@${host}-XyZ789`);
    const elsewhere = join(tmp, `fromscratch-layer-p4194305@not-${host}-QwE456`);
    const other = join(tmp, 'something-else');
    for (const dir of [dead, alive, elsewhere, other]) mkdirSync(join(dir, 'inside'), { recursive: true });
    const store = new ContentStore(root);
    assert.equal(await store.tempParent(), tmp);
    assert.ok(!existsSync(dead));
    for (const dir of [alive, elsewhere, other]) assert.ok(existsSync(dir), dir);
    assert.match(store.tempPrefix('layer'), new RegExp(`^layer-p${process.pid}@`));
  });
});
