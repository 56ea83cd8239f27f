import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import type { Analysis, AnalyzeReport } from '../src/analyze/analyze.js';
import type { FileTreeNode } from '../src/analyze/file-tree.js';
import { pageTree, renderHtmlReport, scriptJson } from '../src/analyze/html-report.js';
import type { PageNode } from '../src/analyze/treemap-page.js';
import { addLayer, cli, cliOk, tempDir } from './helpers.js';

function put(root: string, path: string, content: Buffer | string): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), content);
}

/** A deterministic stand-in for Math.random (a 32-bit LCG), so the synthetic trees are the same each run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** A 2 GB image's worth of files: 200,000 of them, mostly small, a few large, under 4 levels of folders. */
function bigTree(): { tree: FileTreeNode; files: number } {
  const random = lcg(42);
  let files = 0;
  const root: FileTreeNode = { name: '/', size: 0, children: [] };
  for (let a = 0; a < 20; a++) {
    const top: FileTreeNode = { name: `top${a}`, size: 0, children: [] };
    root.children!.push(top);
    for (let b = 0; b < 50; b++) {
      const mid: FileTreeNode = { name: `folder-${a}-${b}`, size: 0, children: [] };
      top.children!.push(mid);
      for (let c = 0; c < 200; c++, files++) {
        // Mostly a few kB; one file in 2,000 is 5-25 MB.
        const size = random() < 0.0005 ? Math.floor(5e6 + random() * 20e6) : Math.floor(random() ** 3 * 12_000);
        mid.children!.push({ name: `file-${c}.dat`, size, layer: files % 7, package: `pkg${files % 300}` });
      }
    }
  }
  const total = (n: FileTreeNode): number => (n.children ? (n.size = n.children.reduce((s, c) => s + total(c), 0)) : n.size);
  total(root);
  return { tree: root, files };
}

function fakeAnalysis(tree: FileTreeNode, layers: number): Analysis & { tree: FileTreeNode } {
  const report: AnalyzeReport = {
    reference: 'oci:big:latest',
    digest: `sha256:${'0'.repeat(64)}`,
    totalBytes: tree.size,
    wastedBytes: 0,
    efficiency: 1,
    wastedPercent: 0,
    storedBytes: tree.size,
    layers: Array.from({ length: layers }, (_, index) => ({ index, digest: `sha256:${String(index).repeat(64)}`, size: 1, fileBytes: 1, added: 1, changed: 0, removed: 0 })),
    waste: [],
    largestWaste: [],
    packageCount: 0,
    packages: [],
    duplicateLibraries: [],
    savings: { docs: 0, man: 0, locales: 0, caches: 0 },
    warnings: [],
  };
  return { report, tree };
}

/** Every node of a page tree with its path, and whether sizes add up at every folder. */
function walkPage(node: PageNode, path: string, visit: (n: PageNode, path: string) => void): void {
  visit(node, path);
  if (Array.isArray(node[4])) {
    assert.equal(node[4].reduce((s, c) => s + c[1], 0), node[1], `sizes add up under ${path}`);
    for (const c of node[4]) walkPage(c, `${path === '/' ? '' : path}/${c[0]}`, visit);
  }
}

describe('analyze --html: the page data', () => {
  it('keeps a 200,000-file, 2 GB tree to a small page: small files grouped per folder, sizes exact', () => {
    const { tree, files } = bigTree();
    assert.equal(files, 200_000);
    assert.ok(tree.size > 1.5e9 && tree.size < 3e9, `${tree.size}`);
    const started = performance.now();
    const html = renderHtmlReport(fakeAnalysis(tree, 7));
    const ms = performance.now() - started;
    const bytes = Buffer.byteLength(html);
    console.log(`# 200,000 files, ${(tree.size / 1e9).toFixed(2)} GB: page ${(bytes / 1e6).toFixed(2)} MB, rendered in ${ms.toFixed(0)} ms`);
    assert.ok(bytes < 10e6, `page of ${bytes} bytes`);
    assert.ok(ms < 10_000, `${ms} ms`);

    const page = pageTree(tree);
    assert.ok(page.nodes <= 2 * 40_000, `${page.nodes} nodes`);
    assert.ok(page.folded > 100_000, `${page.folded} files folded`);
    let kept = 0;
    let groups = 0;
    let groupedFiles = 0;
    walkPage(page.tree, '/', (n) => {
      if (typeof n[4] === 'number') {
        groups++;
        groupedFiles += n[4];
      } else if (!Array.isArray(n[4])) kept++;
    });
    assert.equal(page.tree[1], tree.size);
    assert.equal(kept + groupedFiles, files);
    assert.equal(groupedFiles, page.folded);
    assert.ok(groups <= 1000 + 20, `${groups} groups`);
    // Every large file is still there by name, and so are the 300 packages in the colour ranking.
    const large = tree.children!.flatMap((t) => t.children!.flatMap((m) => m.children!.filter((f) => f.size >= 5e6)));
    assert.ok(large.length > 50, `${large.length}`);
    const names = new Set<string>();
    walkPage(page.tree, '/', (_n, path) => names.add(path));
    for (const f of large.slice(0, 50)) assert.ok([...names].some((p) => p.endsWith(`/${f.name}`)));
    assert.equal(page.packages.length, 300);
  });

  it('keeps every file of a tree under the budget, and groups the folders too small to keep past it', () => {
    const tree: FileTreeNode = {
      name: '/', size: 0, children: [
        { name: 'big', size: 0, children: [{ name: 'a', size: 1000, layer: 0, package: 'p' }, { name: 'b', size: 900, layer: 1 }] },
        { name: 'tiny', size: 0, children: [{ name: 'c', size: 1, layer: 1 }, { name: 'd', size: 2, layer: 1, package: 'q' }] },
        { name: 'e', size: 3, layer: 0 },
      ],
    };
    const total = (n: FileTreeNode): number => (n.children ? (n.size = n.children.reduce((s, c) => s + total(c), 0)) : n.size);
    total(tree);
    const all = pageTree(tree);
    assert.equal(all.folded, 0);
    assert.deepEqual(all.tree, ['/', 1906, 0, 0, [['big', 1900, 0, 0, [['a', 1000, 0, 0], ['b', 900, 1, -1]]], ['tiny', 3, 1, 1, [['c', 1, 1, -1], ['d', 2, 1, 1]]], ['e', 3, 0, -1]]]);
    assert.deepEqual(all.packages, ['p', 'q']);
    // Budget 4: big, a, b stay; tiny (3 bytes) and e (3 bytes) tie at the edge and go into one group of
    // 3 files, mostly layer 1 (c and d: 3 bytes against e's 3, the first seen wins) and no package.
    const some = pageTree(tree, 4);
    assert.equal(some.folded, 3);
    assert.deepEqual(some.tree, ['/', 1906, 0, 0, [['big', 1900, 0, 0, [['a', 1000, 0, 0], ['b', 900, 1, -1]]], ['', 6, 1, -1, 3]]]);
  });

  it('escapes the data so no name can end the script element', () => {
    const nasty = 'a</script><script>alert(1)</script><!-- \u2028\u2029 & "x"';
    const json = scriptJson({ name: nasty });
    assert.ok(!/<\/script|<!--|\u2028|\u2029/i.test(json));
    assert.equal((JSON.parse(json) as { name: string }).name, nasty);
  });

  it("lists every category slim would save in the summary, as the text report does", () => {
    const analysis = fakeAnalysis({ name: '/', size: 10, children: [{ name: 'f', size: 10, layer: 0 }] }, 1);
    analysis.report.savings = { docs: 2_000_000, man: 0, locales: 0, caches: 0, info: 531_391, logs: 40_000 };
    const summary = /<dl class="summary">[\s\S]*?<\/dl>/.exec(renderHtmlReport(analysis))![0];
    assert.match(summary, /<dt>Slimming would save<\/dt><dd>2\.6 MB: docs 2\.0 MB, info 531(\.4)? kB, logs 40(\.0)? kB<\/dd>/);
    analysis.report.savings = { docs: 0, man: 0, locales: 0, caches: 0 };
    assert.match(renderHtmlReport(analysis), /<dt>Slimming would save<\/dt><dd>nothing<\/dd>/);
  });
});

describe('analyze --html: the page in headless Chromium', { timeout: 300_000 }, () => {
  let work: string;
  let html: string;
  let browser: Browser;
  const weird = 'odd</script><b>&"\'\u2028name.txt';
  const nasty = '</script><script>alert(1)</script><!--';

  before(async () => {
    work = tempDir('html');
    const tree = join(work, 'tree');
    put(tree, 'usr/bin/app', randomBytes(2_000_000));
    put(tree, 'usr/bin/helper', randomBytes(600_000));
    put(tree, 'usr/lib/x86_64-linux-gnu/libfoo.so.1', randomBytes(1_500_000));
    for (let i = 0; i < 300; i++) put(tree, `usr/share/doc/foo/note-${i}.txt`, randomBytes(1000 + i * 10));
    put(tree, 'opt/data/blob', randomBytes(3_000_000));
    put(tree, 'opt/data/other', randomBytes(800_000));
    put(tree, `etc/${weird}`, 'x'.repeat(300_000));
    // A dpkg database: foo owns the programs and its docs, bar the data, libfoo1 the library.
    put(tree, 'var/lib/dpkg/status', [
      'Package: foo\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: 1.0-1\nInstalled-Size: 3000\nDepends: libfoo1\nDescription: foo\n',
      'Package: libfoo1\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: 1.0-1\nInstalled-Size: 1500\nDescription: foo library\n',
      'Package: bar\nStatus: install ok installed\nPriority: optional\nArchitecture: all\nVersion: 2.0\nInstalled-Size: 3800\nDescription: bar data\n',
    ].join('\n'));
    put(tree, 'var/lib/dpkg/info/foo.list', ['/.', '/usr', '/usr/bin', '/usr/bin/app', '/usr/bin/helper', ...Array.from({ length: 300 }, (_, i) => `/usr/share/doc/foo/note-${i}.txt`)].join('\n') + '\n');
    put(tree, 'var/lib/dpkg/info/libfoo1:amd64.list', '/.\n/usr/lib/x86_64-linux-gnu/libfoo.so.1\n');
    put(tree, 'var/lib/dpkg/info/bar.list', '/.\n/opt\n/opt/data\n/opt/data/blob\n/opt/data/other\n');
    const layout = join(work, 'img');
    cliOk(['import', tree, `oci:${layout}:app`, '--owner', '0:0']);
    // Layer 1 adds a build cache and a tool; layer 2 deletes the cache: 4 MB of waste.
    addLayer(`${layout}:app`, join(work, 'l1.tar'), [
      ['srv', 'dir', 0], ['srv/cache', 'dir', 0], ['srv/cache/build.o', 'file', 4_000_000],
      ['usr/local', 'dir', 0], ['usr/local/bin', 'dir', 0], ['usr/local/bin/tool', 'file', 2_500_000],
    ], '/bin/sh -c make && cp tool /usr/local/bin');
    // Its step ends the script element if the page's JSON is not escaped.
    addLayer(`${layout}:app`, join(work, 'l2.tar'), [['srv/.wh.cache', 'file', '']], `/bin/sh -c rm -rf /srv/cache # ${nasty}`);
    html = join(work, 'report.html');
    const r = cli(['analyze', `oci:${layout}:app`, '--html', html]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /analyze: wrote .*report\.html \([\d.]+ kB\)/);
    assert.match(r.stdout, /Efficiency:/);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
  });

  /** A page of its own with every request, console error and page error recorded. */
  async function open(options: { bypassCSP?: boolean } = {}): Promise<{ page: Page; requests: string[]; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1, ...options });
    const page = await context.newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('dialog', (d) => errors.push(`dialog: ${d.message()}`));
    // Nothing may leave the machine even if the page tried.
    await context.route(/^(?!file:)/, (route) => route.abort());
    await page.goto(pathToFileURL(html).href);
    await page.locator('#treemap .cell').first().waitFor();
    return { page, requests, errors };
  }

  const cellColours = (page: Page): Promise<Record<string, string>> =>
    page.$$eval('#treemap .cell', (els) => Object.fromEntries(els.map((e) => [(e as HTMLElement).dataset['path']!, getComputedStyle(e).backgroundColor])));

  it('loads nothing but itself, even with its Content-Security-Policy off', async () => {
    const text = readFileSync(html, 'utf8');
    assert.match(text, /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;sha256-/);
    assert.doesNotMatch(text, /\b(src|href)=/);
    for (const bypassCSP of [false, true]) {
      const { page, requests, errors } = await open({ bypassCSP });
      assert.deepEqual(requests, [pathToFileURL(html).href], `bypassCSP ${bypassCSP}`);
      assert.deepEqual(errors, []);
      await page.context().close();
    }
  });

  it('draws the largest folders, zooms into a clicked folder and out again, recolours by package, and screenshots as expected', async () => {
    const { page, requests, errors } = await open();
    // The summary, the layer table and the waste list, as real tables and headings.
    assert.equal(await page.locator('h2').allTextContents().then((h) => h.join('|')), 'Filesystem|Layers|Waste|Packages');
    assert.equal(await page.locator('section[aria-labelledby="layers-heading"] table tbody tr').count(), 3);
    assert.match(await page.locator('section[aria-labelledby="layers-heading"] tbody tr').nth(1).innerText(), /make && cp tool \/usr\/local\/bin/);
    assert.equal(await page.locator('.advice').innerText(), `layer 2 \`rm -rf /srv/cache # ${nasty}\` deletes 4.0 MB added by layer 1 \`make && cp tool /usr/local/bin\` (/srv/cache/build.o): do both in one RUN, or build in a stage and copy only the result`);
    assert.match(await page.locator('section[aria-labelledby="waste-heading"] table').innerText(), /\/srv\/cache\/build\.o\s+4\.0 MB/);
    assert.deepEqual(await page.locator('section[aria-labelledby="packages-heading"] tbody th').allTextContents(), ['bar', 'foo', 'libfoo1']);
    assert.match(await page.locator('dl.summary').innerText(), /Efficiency\s+\d+\.\d%/);

    // The root view: the largest folders are drawn with their names.
    for (const dir of ['/usr', '/opt']) {
      const cell = page.locator(`#treemap .cell.dir[data-path="${dir}"]`);
      assert.ok(await cell.isVisible(), dir);
      assert.match(await cell.locator('.name').first().innerText(), new RegExp(`^${dir.slice(1)}`));
      const box = (await cell.boundingBox())!;
      assert.ok(box.width * box.height > 20_000, `${dir}: ${JSON.stringify(box)}`);
    }
    const rootCells = await page.locator('#treemap .cell').count();
    // The odd name (a folder "odd<" and a file in it) came through the JSON unharmed: zoomed into /etc,
    // its file is drawn and named.
    await page.locator('#treemap .cell[data-path="/etc"] > .name').click();
    const odd = page.locator('#treemap .cell.file').filter({ hasText: 'name.txt' });
    assert.equal(await odd.getAttribute('data-path'), `/etc/${weird}`);
    assert.equal(await odd.getAttribute('title'), `/etc/${weird}\n300 kB\nlayer 0 \`fromscratch import\`\nno package`);
    assert.ok((await odd.locator('.name').textContent())!.startsWith(weird.slice(weird.indexOf('/') + 1)));
    await page.locator('#crumbs button', { hasText: '/' }).click();
    assert.equal(await page.locator('#treemap .cell').count(), rootCells);
    assert.equal(await page.locator('script').count(), 3);

    // Hovering tells the path, size, layer and package.
    await page.locator('#treemap .cell[data-path="/opt/data/blob"]').hover();
    assert.match(await page.locator('#treemap-details').innerText(), /^\/opt\/data\/blob · 3\.0 MB · layer 0( `[^`]*`)? · package bar$/);

    // Zoom into /usr by clicking its name: the path above says so, and only its children are drawn.
    await page.locator('#treemap .cell.dir[data-path="/usr"] > .name').click();
    assert.equal(await page.locator('#crumbs [aria-current]').innerText(), 'usr (7.3 MB)');
    const paths = await page.$$eval('#treemap .cell', (els) => els.map((e) => (e as HTMLElement).dataset['path']!));
    assert.ok(paths.length > 0 && paths.every((p) => p.startsWith('/usr/')), paths.join(' '));
    for (const p of ['/usr/bin', '/usr/share', '/usr/lib', '/usr/local']) assert.ok(paths.includes(p), p);
    const usrBin = (await page.locator('#treemap .cell[data-path="/usr/bin"]').boundingBox())!;
    assert.ok(usrBin.width * usrBin.height > 100_000, 'the zoomed view uses the whole box');
    // Deeper: the notes, too small to draw at the root, are each a rectangle.
    await page.locator('#treemap .cell.dir[data-path="/usr/share"] > .name').click();
    assert.deepEqual(await page.locator('#crumbs li').allTextContents(), ['/', 'usr', 'share (749 kB)']);
    assert.ok((await page.locator('#treemap .cell[data-path^="/usr/share/doc/foo/note-"]').count()) > 100);
    // Out with Escape, then to the root through the path.
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#crumbs [aria-current]').innerText(), 'usr (7.3 MB)');
    await page.locator('#crumbs button', { hasText: '/' }).click();
    assert.match(await page.locator('#crumbs').innerText(), /^\/ \(11\.\d MB\)$/);
    assert.equal(await page.locator('#treemap .cell').count(), rootCells);

    // Colour by layer: layer 0's files all share one colour, the folder of layer 1's tool another.
    const shot = async (): Promise<PNG> => PNG.sync.read(await page.screenshot());
    const byLayer = await cellColours(page);
    const layerPng = await shot();
    for (const p of ['/opt/data/blob', '/usr/bin/app', '/usr/bin/helper', '/usr/local/bin']) assert.ok(byLayer[p], p);
    assert.equal(byLayer['/opt/data/blob'], byLayer['/usr/bin/app']);
    assert.notEqual(byLayer['/usr/local/bin'], byLayer['/usr/bin/app']);
    assert.match(await page.locator('#legend').innerText(), /layer 1 `make && cp tool \/usr\/local\/bin`/);
    assert.ok((await page.locator('#legend').innerText()).includes(`layer 2 \`rm -rf /srv/cache # ${nasty}\``));
    await page.locator('input[name="colour"][value="package"]').check();
    const byPackage = await cellColours(page);
    assert.notEqual(byPackage['/opt/data/blob'], byPackage['/usr/bin/app']);
    assert.equal(byPackage['/usr/bin/app'], byPackage['/usr/bin/helper']);
    assert.notEqual(byPackage['/usr/bin/app'], byLayer['/usr/bin/app']);
    assert.match(await page.locator('#legend').innerText(), /bar — [\d.]+ [kM]B shown.*foo — [\d.]+ [kM]B shown.*no package/s);

    // The screenshot: a PNG of the viewport, the treemap region full of colours, and the two modes differ.
    const png = await shot();
    assert.equal(png.width, 1280);
    assert.equal(png.height, 900);
    const box = (await page.locator('#treemap').boundingBox())!;
    const region = (p: PNG): number[] => {
      const pixels: number[] = [];
      for (let y = Math.ceil(box.y); y < Math.min(p.height, box.y + box.height); y++) {
        for (let x = Math.ceil(box.x); x < box.x + box.width; x++) {
          const i = (y * p.width + x) * 4;
          pixels.push((p.data[i]! << 16) | (p.data[i + 1]! << 8) | p.data[i + 2]!);
        }
      }
      return pixels;
    };
    const pixels = region(png);
    assert.ok(pixels.length > 300_000, `${pixels.length} pixels`);
    const counts = new Map<number, number>();
    for (const c of pixels) counts.set(c, (counts.get(c) ?? 0) + 1);
    const commonest = Math.max(...counts.values()) / pixels.length;
    assert.ok(counts.size > 50, `${counts.size} colours`);
    assert.ok(commonest < 0.5, `one colour covers ${(commonest * 100).toFixed(0)}%`);
    // The package colours of bar (largest owner) and foo are on screen.
    const hex = (css: string): number => css.match(/\d+/g)!.slice(0, 3).reduce((n, v) => (n << 8) | Number(v), 0);
    for (const p of ['/opt/data/blob', '/usr/bin/app']) assert.ok((counts.get(hex(byPackage[p]!)) ?? 0) > 5_000, p);
    const before = region(layerPng);
    const changed = pixels.filter((c, i) => c !== before[i]).length;
    assert.ok(changed > pixels.length / 4, `${changed} of ${pixels.length} pixels changed colour`);
    writeFileSync(join(work, 'screenshot.png'), PNG.sync.write(png));
    if (process.env['FROMSCRATCH_KEEP_SCREENSHOT']) writeFileSync(process.env['FROMSCRATCH_KEEP_SCREENSHOT'], PNG.sync.write(png));

    assert.deepEqual(requests, [pathToFileURL(html).href]);
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('renders the page of a 200,000-file image quickly', async () => {
    const big = join(work, 'big.html');
    writeFileSync(big, renderHtmlReport(fakeAnalysis(bigTree().tree, 7)));
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const started = performance.now();
    await page.goto(pathToFileURL(big).href);
    await page.locator('#treemap .cell').first().waitFor();
    const loaded = performance.now() - started;
    const cells = await page.locator('#treemap .cell').count();
    const zoomStarted = performance.now();
    await page.locator('#treemap .cell.dir').first().locator('.name').click();
    await page.locator('#crumbs li').nth(1).waitFor();
    const zoomed = performance.now() - zoomStarted;
    console.log(`# ${(statSync(big).size / 1e6).toFixed(2)} MB page: drawn in ${loaded.toFixed(0)} ms (${cells} rectangles), zoomed in ${zoomed.toFixed(0)} ms`);
    assert.ok(cells > 100 && cells <= 3000, `${cells}`);
    assert.ok(loaded < 5000, `${loaded} ms`);
    assert.ok(zoomed < 2000, `${zoomed} ms`);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('names the file it cannot write, and leaves nothing behind', () => {
    const layout = join(work, 'img');
    const r = cli(['analyze', `oci:${layout}:app`, '--html', join(work, 'missing', 'r.html')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot write the HTML report .*missing\/r\.html: its folder does not exist/);
    mkdirSync(join(work, 'dir.html'));
    const d = cli(['analyze', `oci:${layout}:app`, '--html', join(work, 'dir.html')]);
    assert.equal(d.status, 1);
    assert.match(d.stderr, /cannot write the HTML report .*dir\.html: it is a folder/);
    assert.ok(!existsSync(join(work, 'missing')));
    assert.deepEqual(readdirSync(work).filter((n) => n.includes('.tmp-')), []);
  });
});
