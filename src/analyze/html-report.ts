import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, UserError } from '../errors.js';
import { writeFileAtomic } from '../fs/temp.js';
import type { Analysis, AnalyzeReport, LayerAnalysis } from './analyze.js';
import type { FileTreeNode } from './file-tree.js';
import { humanBytes, PALETTE, treemapPage, type PageData, type PageDir, type PageNode } from './treemap-page.js';

/** An analysis made with `tree: true`. */
export type TreeAnalysis = Analysis & { tree: FileTreeNode };

/**
 * Most nodes the page's tree keeps: past it, the smallest files and folders of each folder become one
 * "N small files" node. 40,000 nodes are about 1.5 MB of JSON and lay out in tens of milliseconds.
 */
export const TREE_NODE_BUDGET = 40_000;

/** Bytes, file count and the bytes per layer and per package (rank, −1 for none) of a set of files. */
interface Tally {
  bytes: number;
  files: number;
  layers: Map<number, number>;
  packages: Map<number, number>;
}

const tally = (): Tally => ({ bytes: 0, files: 0, layers: new Map(), packages: new Map() });
const add = (m: Map<number, number>, key: number, n: number): void => {
  m.set(key, (m.get(key) ?? 0) + n);
};
function merge(into: Tally, from: Tally): void {
  into.bytes += from.bytes;
  into.files += from.files;
  for (const [k, n] of from.layers) add(into.layers, k, n);
  for (const [k, n] of from.packages) add(into.packages, k, n);
}
/** The key holding most bytes (−1 when there is none). */
function dominant(m: Map<number, number>): number {
  let best = -1;
  let most = -1;
  for (const [k, n] of m) {
    if (n > most) [best, most] = [k, n];
  }
  return best;
}

export interface PageTree {
  tree: PageDir;
  /** Package names by bytes owned in the final filesystem, largest first. */
  packages: string[];
  /** Nodes kept (folders, files and groups of small files, the root aside). */
  nodes: number;
  /** Files folded into groups of small files. */
  folded: number;
}

/**
 * The file tree as the page draws it. When it has more than `budget` nodes, only the `budget` largest
 * stay (a folder is never smaller than what it holds, so every kept node's folder is kept too); the rest
 * of each folder becomes one group of small files, too small to see before zooming far in anyway.
 */
export function pageTree(root: FileTreeNode, budget = TREE_NODE_BUDGET): PageTree {
  const owned = new Map<string, number>();
  const sizes: number[] = [];
  const walk = (n: FileTreeNode): void => {
    for (const c of n.children ?? []) {
      sizes.push(c.size);
      if (c.children) walk(c);
      else if (c.package !== undefined) owned.set(c.package, (owned.get(c.package) ?? 0) + c.size);
    }
  };
  walk(root);
  const packages = [...owned].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([name]) => name);
  const rank = new Map(packages.map((name, i) => [name, i]));
  // Kept: sizes above the budget-th largest (strictly, so ties at the edge never overflow the budget).
  const threshold = sizes.length <= budget ? -Infinity : Float64Array.from(sizes).sort()[sizes.length - budget]!;

  const fold = (n: FileTreeNode, into: Tally): void => {
    if (n.children) {
      for (const c of n.children) fold(c, into);
      return;
    }
    into.bytes += n.size;
    into.files++;
    add(into.layers, n.layer ?? -1, n.size);
    add(into.packages, n.package === undefined ? -1 : rank.get(n.package)!, n.size);
  };
  const file = (n: FileTreeNode): PageNode => [n.name, n.size, n.layer ?? -1, n.package === undefined ? -1 : rank.get(n.package)!];
  let nodes = 0;
  let folded = 0;
  const build = (dir: FileTreeNode, own: Tally): PageDir => {
    const children: PageNode[] = [];
    const small: FileTreeNode[] = [];
    for (const c of dir.children ?? []) {
      if (c.size <= threshold) {
        small.push(c);
        continue;
      }
      nodes++;
      if (c.children) {
        const below = tally();
        children.push(build(c, below));
        merge(own, below);
      } else {
        children.push(file(c));
        fold(c, own);
      }
    }
    if (small.length === 1 && !small[0]!.children) {
      // One file alone costs no more than a group standing for it.
      nodes++;
      children.push(file(small[0]!));
      fold(small[0]!, own);
    } else if (small.length) {
      const group = tally();
      for (const c of small) fold(c, group);
      if (group.files) {
        nodes++;
        folded += group.files;
        children.push(['', group.bytes, dominant(group.layers), dominant(group.packages), group.files]);
      }
      merge(own, group);
    }
    return [dir.name, dir.size, dominant(own.layers), dominant(own.packages), children];
  };
  const tree = build(root, tally());
  return { tree, packages, nodes, folded };
}

/** Text for HTML element content and attribute values. */
function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON inside a `<script type="application/json">`: `<` only ever occurs in strings, where `\u003c` means
 * the same, so no `</script>` or `<!--` can end or confuse the element. U+2028/2029 are escaped too,
 * for any reader that takes the text as JavaScript.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

let d3Source: string | undefined;
/**
 * d3-hierarchy's squarified treemap (dependency-free, ~15 kB minified), inlined so the page needs nothing
 * from the network: the UMD build beside the ES module that the package exports, without its source-map
 * comment.
 */
function d3Hierarchy(): string {
  d3Source ??= readFileSync(join(dirname(fileURLToPath(import.meta.resolve('d3-hierarchy'))), 'd3-hierarchy.min.js'), 'utf8').replace(/\n\/\/# sourceMappingURL=\S*\s*$/, '\n');
  return d3Source;
}

/** The page script: the shared size format, then the treemap, both from their type-checked source. */
const pageScript = (): string => `${humanBytes.toString()}\n(${treemapPage.toString()})();\n`;

function layerLabel(l: LayerAnalysis): string {
  const by = l.createdBy?.replace(/^\/bin\/sh -c (#\(nop\) )?/, '').trim();
  return `layer ${l.index}${by ? ` \`${by.length > 80 ? `${by.slice(0, 79)}…` : by}\`` : ''}`;
}

const num = (n: number): string => n.toLocaleString('en');
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

const STYLE = `
:root { color-scheme: light; font: 14px/1.45 system-ui, sans-serif; color: #1d1d1f; background: #fafafa }
body { margin: 0 auto; max-width: 1400px; padding: 1rem 1.5rem 3rem }
h1 { font-size: 1.35rem; margin: .3rem 0 .8rem; overflow-wrap: anywhere }
h2 { font-size: 1.15rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem }
code { font: 12px/1.4 ui-monospace, monospace; overflow-wrap: anywhere }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0 }
dl.summary dt { font-weight: 600 }
dl.summary dd { margin: 0; overflow-wrap: anywhere }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums }
caption { text-align: left; color: #555; padding-bottom: .3rem }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e4e4e4; vertical-align: top }
thead th { background: #eee }
.num { text-align: right; white-space: nowrap }
.controls { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: .5rem 1.5rem; margin-bottom: .5rem }
#crumbs { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem; margin: 0; padding: 0; font-weight: 600 }
#crumbs li + li::before { content: "›"; margin-right: .25rem; color: #888 }
#crumbs button { font: inherit; border: 0; background: none; color: #0b57d0; cursor: pointer; padding: 0; text-decoration: underline }
fieldset { border: 0; margin: 0; padding: 0 }
fieldset legend { float: left; margin-right: .6rem; font-weight: 600 }
fieldset label { margin-right: .8rem }
#treemap { position: relative; height: clamp(360px, 68vh, 760px); background: #fff; border: 1px solid #aaa; overflow: hidden; user-select: none }
#treemap:focus-visible { outline: 2px solid #0b57d0 }
.cell { position: absolute; box-sizing: border-box; overflow: hidden; border: 1px solid rgba(0,0,0,.3); font-size: 11px; line-height: 13px; color: #111 }
.cell .name { display: block; padding: 1px 3px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis }
.cell .bytes { opacity: .75 }
.cell.dir { cursor: zoom-in }
.cell.dir:not(.open) { border: 2px solid rgba(0,0,0,.5) }
.cell.open > .name { background: rgba(0,0,0,.6); color: #fff; font-weight: 600 }
.cell.small { background-image: repeating-linear-gradient(135deg, rgba(255,255,255,.5) 0 2px, transparent 2px 6px) }
.cell:focus { outline: 2px solid #000; outline-offset: -2px; z-index: 1 }
#treemap-details { min-height: 1.45em; margin: .4rem 0 .2rem; color: #333; overflow-wrap: anywhere }
#legend { list-style: none; padding: 0; margin: .2rem 0; display: flex; flex-wrap: wrap; gap: .2rem 1.2rem; font-size: 12px }
.swatch { display: inline-block; width: .9em; height: .9em; border: 1px solid rgba(0,0,0,.3); vertical-align: -.1em; margin-right: .35em }
${PALETTE.map((c, i) => `.swatch.l${i} { background: ${c} }`).join('\n')}
`;

function summary(r: AnalyzeReport): string {
  const rows: [string, string][] = [
    ['Reference', `<code>${esc(r.reference)}</code>`],
    ['Digest', `<code>${esc(r.digest)}</code>`],
    ['Contents', `${humanBytes(r.totalBytes)} of files in ${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}, ${humanBytes(r.storedBytes)} stored`],
    ['Wasted', `${humanBytes(r.wastedBytes)} deleted or overwritten by a later layer`],
    ['Efficiency', pct(r.efficiency)],
  ];
  if (r.packageManager) rows.push(['Packages', `${num(r.packageCount)} (${esc(r.packageManager)}), ${humanBytes(r.packages.reduce((n, p) => n + p.installedBytes, 0))} installed`]);
  // Every category slim removes by default, as the text report lists them (info and logs included).
  const saved = Object.entries(r.savings).filter(([, n]) => n > 0);
  const total = saved.reduce((n, [, bytes]) => n + bytes, 0);
  rows.push(['Slimming would save', saved.length ? `${humanBytes(total)}: ${saved.map(([name, n]) => `${esc(name)} ${humanBytes(n)}`).join(', ')}` : 'nothing']);
  return `<dl class="summary">\n${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('\n')}\n</dl>`;
}

function layerTable(r: AnalyzeReport): string {
  const rows = r.layers.map(
    (l) =>
      `<tr><th scope="row" class="num">${l.index < PALETTE.length ? `<span class="swatch l${l.index}"></span>` : ''}${l.index}</th>` +
      `<td>${l.createdBy ? `<code>${esc(l.createdBy)}</code>` : ''}</td><td><code title="${esc(l.digest)}">${esc(l.digest.slice(0, 19))}…</code></td>` +
      `<td class="num">${humanBytes(l.size)}</td><td class="num">${humanBytes(l.fileBytes)}</td>` +
      `<td class="num">${num(l.added)}</td><td class="num">${num(l.changed)}</td><td class="num">${num(l.removed)}</td></tr>`,
  );
  return `<table>
<caption>Each layer as stored, the file contents it carries, and the paths it adds, changes and removes</caption>
<thead><tr><th scope="col" class="num">Layer</th><th scope="col">Created by</th><th scope="col">Digest</th><th scope="col" class="num">Stored</th><th scope="col" class="num">Contents</th><th scope="col" class="num">Added</th><th scope="col" class="num">Changed</th><th scope="col" class="num">Removed</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
}

function wasteSection(r: AnalyzeReport): string {
  if (!r.waste.length) return '<p>No waste: no layer deletes or overwrites what a lower layer added.</p>';
  const advice = r.waste.map((p) => `<li>${esc(p.advice)}</li>`).join('\n');
  const rows = r.largestWaste.map(
    (w) => `<tr><td><code>/${esc(w.path)}</code></td><td class="num">${humanBytes(w.bytes)}</td><td class="num">${w.addedBy}</td><td class="num">${w.removedBy}</td><td>${w.how}</td></tr>`,
  );
  return `<ul class="advice">
${advice}
</ul>
<table>
<caption>Largest files a later layer deletes or overwrites (${humanBytes(r.wastedBytes)} in all)</caption>
<thead><tr><th scope="col">Path</th><th scope="col" class="num">Size</th><th scope="col" class="num">Added by layer</th><th scope="col" class="num">Removed by layer</th><th scope="col">How</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
}

function packageSection(r: AnalyzeReport): string {
  const rows = [...r.packages]
    .sort((a, b) => b.installedBytes - a.installedBytes || (a.name < b.name ? -1 : 1))
    .map(
      (p) =>
        `<tr><th scope="row">${esc(p.name)}</th><td>${esc(p.version)}</td><td>${esc(p.architecture)}</td><td class="num">${humanBytes(p.installedBytes)}</td><td>${esc(p.why.join(' → '))}</td></tr>`,
    );
  const duplicates = r.duplicateLibraries.map((g) => `<li>several versions of one library: ${esc(g.join(', '))}</li>`).join('\n');
  return `<section aria-labelledby="packages-heading">
<h2 id="packages-heading">Packages</h2>
${duplicates ? `<ul>\n${duplicates}\n</ul>\n` : ''}<table>
<caption>${num(r.packageCount)} installed packages (${esc(r.packageManager ?? '')}), largest first, and why each is there</caption>
<thead><tr><th scope="col">Package</th><th scope="col">Version</th><th scope="col">Architecture</th><th scope="col" class="num">Installed size</th><th scope="col">Why</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
</section>`;
}

/**
 * One self-contained page: the data as JSON, the style and the scripts inline, and a
 * Content-Security-Policy that lets the page load nothing at all — only its own inline style and
 * scripts, by hash, run.
 */
export function renderHtmlReport(analysis: TreeAnalysis, budget = TREE_NODE_BUDGET): string {
  const r = analysis.report;
  const { tree, packages, folded } = pageTree(analysis.tree, budget);
  const data: PageData = { tree, layers: r.layers.map(layerLabel), packages, palette: PALETTE };
  const scripts = [d3Hierarchy(), pageScript()];
  for (const s of scripts) {
    // The scripts are ours and d3's, never data: a closing tag in them would be a bug here.
    if (/<\/script|<!--/i.test(s)) throw new Error('an inlined script contains "</script" or "<!--"');
  }
  const csp = [
    "default-src 'none'",
    `style-src ${sha256(STYLE)}`,
    `script-src ${scripts.map(sha256).join(' ')}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${esc(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="fromscratch analyze">
<title>Image analysis: ${esc(r.reference)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Image analysis: <code>${esc(r.reference)}</code></h1>
${summary(r)}
</header>
<main>
<section aria-labelledby="treemap-heading">
<h2 id="treemap-heading">Filesystem</h2>
<p>The final filesystem by size (${humanBytes(tree[1])}): click a folder to zoom in, the path above to zoom out (or Escape).${folded ? ` ${num(folded)} of the smallest files are grouped as “small files” to keep this page small.` : ''}</p>
<div class="controls">
<nav aria-label="Folder shown"><ol id="crumbs"></ol></nav>
<fieldset><legend>Colour by</legend>
<label><input type="radio" name="colour" value="layer" checked> layer</label>
<label><input type="radio" name="colour" value="package"> package${packages.length ? '' : ' (no package database)'}</label>
</fieldset>
</div>
<div id="treemap" tabindex="0" role="group" aria-label="Treemap of the final filesystem"></div>
<p id="treemap-details" aria-live="polite"></p>
<ul id="legend" aria-label="Colours"></ul>
<noscript><p>The treemap needs JavaScript; the tables below do not.</p></noscript>
</section>
<section aria-labelledby="layers-heading">
<h2 id="layers-heading">Layers</h2>
${layerTable(r)}
</section>
<section aria-labelledby="waste-heading">
<h2 id="waste-heading">Waste</h2>
${wasteSection(r)}
</section>
${r.packageManager ? packageSection(r) : ''}
</main>
<script type="application/json" id="treemap-data">${scriptJson(data)}</script>
${scripts.map((s) => `<script>${s}</script>`).join('\n')}
</body>
</html>
`;
}

export { humanBytes };

/** Writes the page under a temporary name beside `file` and renames it into place; returns its size in bytes. */
export async function writeHtmlReport(analysis: TreeAnalysis, file: string): Promise<number> {
  const html = renderHtmlReport(analysis);
  try {
    await writeFileAtomic(file, html);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'its folder does not exist' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : errorMessage(err);
    throw new UserError(`cannot write the HTML report ${file}: ${why}`, { cause: err });
  }
  return Buffer.byteLength(html);
}
