/// <reference lib="dom" />
/*
 * The script of the HTML report's treemap. It is type-checked here and put into the page as source text
 * (`treemapPage.toString()`), so its body may use nothing of this module but the types, `humanBytes`
 * (inlined beside it) and the global `d3` of the inlined d3-hierarchy build. The DOM library reference
 * makes browser types visible to the whole program; Node code simply never uses them.
 */
import type * as D3 from 'd3-hierarchy';

/** Set by d3-hierarchy's UMD build, which the page inlines before this script. */
declare const d3: typeof D3;

/**
 * One node of the page's tree, as a tuple to keep big trees small: name, bytes at and below it, the
 * layer and the package (an index into `PageData.packages`, −1 for none) of its files — for a folder or a
 * group of small files, those holding most of its bytes — then a folder's children, or how many small
 * files a group stands for.
 */
export type PageFile = [name: string, bytes: number, layer: number, pkg: number];
export type PageDir = [name: string, bytes: number, layer: number, pkg: number, children: PageNode[]];
export type PageSmall = [name: string, bytes: number, layer: number, pkg: number, files: number];
export type PageNode = PageFile | PageDir | PageSmall;

export interface PageData {
  tree: PageDir;
  /** Per layer index, how people read it: `layer 2 \`apt-get install …\``. */
  layers: string[];
  /** Package names, the one owning most bytes first (the rank picks the colour). */
  packages: string[];
  /** Colours of the first layers or packages; later ones get hues of their own. */
  palette: string[];
}

/** Tableau 10 without its grey (kept for "no package"), and two more. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#86bcb6', '#d4a6c8', '#f1ce63'];

/** Sizes in SI units, as the text report's MB. */
export function humanBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 999.95 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(n >= 100 ? 0 : 1)} ${units[i]}`;
}

/** Draws the treemap into #treemap from the JSON in #treemap-data, and wires zoom, colouring and the legend. */
export function treemapPage(): void {
  const data = JSON.parse(document.getElementById('treemap-data')!.textContent!) as PageData;
  const box = document.getElementById('treemap')!;
  const crumbs = document.getElementById('crumbs')!;
  const details = document.getElementById('treemap-details')!;
  const legend = document.getElementById('legend')!;
  // Levels laid out below the view: deeper folders are one block until zoomed into (keeps the DOM small).
  const MAX_DEPTH = 3;
  const MAX_CELLS = 3000;
  // Nodes smaller than this many square pixels are left out of the layout (it stays fast on big trees);
  // their bytes still take their share of the folder's area, in the folder's colour.
  const MIN_AREA = 20;
  const HEADER = 16;
  const NONE = '#c9c9c9';

  /** A node in the layout, with the bytes it stands for itself (all of them, less its laid-out children). */
  type Cell = { n: PageNode; depth: number; rest: number };
  type Laid = D3.HierarchyRectangularNode<Cell>;
  let colourBy: 'layer' | 'package' = 'layer';
  /** The folder shown and its ancestors, root first. */
  let stack: PageDir[] = [data.tree];
  const cells = new Map<Element, { h: Laid; path: string }>();
  let size = { w: 0, h: 0 };

  const isDir = (n: PageNode): n is PageDir => Array.isArray(n[4]);
  const isSmall = (n: PageNode): n is PageSmall => typeof n[4] === 'number';
  const nameOf = (n: PageNode): string => (isSmall(n) ? `${n[4].toLocaleString('en')} small files` : n[0]);
  const join = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);
  const viewPath = (): string => stack.slice(1).reduce((p, d) => join(p, d[0]), '/');
  const colourIndex = (n: PageNode): number => (colourBy === 'layer' ? n[2] : n[3]);
  const colour = (i: number): string => (i < 0 ? NONE : (data.palette[i] ?? `hsl(${(i * 137.508) % 360}deg 42% 62%)`));
  const mostly = (n: PageNode): string => (isDir(n) || isSmall(n) ? 'mostly ' : '');

  function describe(n: PageNode, path: string): string {
    const lines = [isSmall(n) ? `${path} (${nameOf(n)})` : path, humanBytes(n[1])];
    if (n[2] >= 0) lines.push(`${mostly(n)}${data.layers[n[2]] ?? `layer ${n[2]}`}`);
    if (data.packages.length) lines.push(n[3] >= 0 ? `${mostly(n)}package ${data.packages[n[3]]}` : 'no package');
    return lines.join('\n');
  }

  function zoom(to: PageDir[]): void {
    stack = to;
    render();
    box.focus();
  }

  function renderCrumbs(): void {
    crumbs.replaceChildren();
    stack.forEach((d, i) => {
      const li = document.createElement('li');
      const text = i === 0 ? '/' : d[0];
      if (i === stack.length - 1) {
        const here = document.createElement('span');
        here.textContent = `${text} (${humanBytes(d[1])})`;
        here.setAttribute('aria-current', 'location');
        li.append(here);
      } else {
        const up = document.createElement('button');
        up.type = 'button';
        up.textContent = text;
        up.addEventListener('click', () => zoom(stack.slice(0, i + 1)));
        li.append(up);
      }
      crumbs.append(li);
    });
  }

  function renderLegend(shown: Map<number, number>): void {
    legend.replaceChildren();
    const item = (index: number, text: string, bytes?: number): void => {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.backgroundColor = colour(index);
      li.append(swatch, text + (bytes === undefined ? '' : ` — ${humanBytes(bytes)} shown`));
      legend.append(li);
    };
    if (colourBy === 'layer') {
      data.layers.forEach((text, i) => item(i, text, shown.get(i)));
      return;
    }
    const ranked = [...shown].sort((a, b) => b[1] - a[1]);
    const top = ranked.filter(([i]) => i >= 0).slice(0, 15);
    for (const [i, bytes] of top) item(i, data.packages[i]!, bytes);
    const rest = ranked.filter(([i]) => i >= 0).slice(15);
    if (rest.length) {
      const li = document.createElement('li');
      li.textContent = `… ${rest.length} more packages, ${humanBytes(rest.reduce((n, [, b]) => n + b, 0))}`;
      legend.append(li);
    }
    if (shown.has(-1)) item(-1, 'no package', shown.get(-1));
  }

  function render(): void {
    const view = stack[stack.length - 1]!;
    const path = viewPath();
    size = { w: box.clientWidth, h: box.clientHeight };
    box.replaceChildren();
    cells.clear();
    renderCrumbs();
    const scale = (size.w * size.h) / Math.max(1, view[1]);
    const root = d3
      .hierarchy<Cell>({ n: view, depth: 0, rest: view[1] }, (c) => {
        if (c.depth >= MAX_DEPTH || !isDir(c.n)) return null;
        const shown = c.n[4].filter((n) => n[1] * scale >= MIN_AREA);
        c.rest = shown.reduce((rest, n) => rest - n[1], c.n[1]);
        return shown.map((n) => ({ n, depth: c.depth + 1, rest: n[1] }));
      })
      .sum((c) => c.rest)
      .sort((a, b) => b.value! - a.value!);
    // A folder shows its name and its children only where both fit; otherwise it is one block.
    const opens = (h: Laid): boolean => h.depth === 0 || (h.x1 - h.x0 >= 40 && h.y1 - h.y0 >= 2 * HEADER);
    const laid = d3
      .treemap<Cell>()
      .tile(d3.treemapSquarify)
      .size([size.w, size.h])
      .round(true)
      .paddingInner(1)
      .paddingOuter((h) => (h.depth === 0 ? 0 : 2))
      .paddingTop((h) => (h.depth === 0 ? 0 : opens(h) ? HEADER : 2))(root);
    const shown = new Map<number, number>();
    const draw = (h: Laid, at: string): void => {
      const n = h.data.n;
      const open = isDir(n) && !!h.children && opens(h);
      if (h.depth > 0) {
        const w = h.x1 - h.x0;
        const ht = h.y1 - h.y0;
        // Too small to see or to click: the folder around it shows its colour.
        if (w < 3 || ht < 3 || cells.size >= MAX_CELLS) return;
        const el = document.createElement('div');
        el.className = `cell ${isDir(n) ? 'dir' : isSmall(n) ? 'file small' : 'file'}${open ? ' open' : ''}`;
        el.style.left = `${h.x0}px`;
        el.style.top = `${h.y0}px`;
        el.style.width = `${w}px`;
        el.style.height = `${ht}px`;
        el.style.backgroundColor = colour(colourIndex(n));
        el.title = describe(n, at);
        el.dataset['path'] = at;
        if (isDir(n)) {
          el.tabIndex = 0;
          el.setAttribute('role', 'button');
          el.setAttribute('aria-label', `${at}, ${humanBytes(n[1])}: zoom in`);
        }
        if (w >= 24 && ht >= 12) {
          const label = document.createElement('span');
          label.className = 'name';
          // A folder drawn as one block says it is one.
          label.textContent = isDir(n) && !open ? `${n[0]}/` : nameOf(n);
          if (ht >= 28 && !open) {
            const bytes = document.createElement('span');
            bytes.className = 'bytes';
            bytes.textContent = humanBytes(n[1]);
            label.append(document.createElement('br'), bytes);
          }
          el.append(label);
        }
        box.append(el);
        cells.set(el, { h, path: at });
        if (!open) shown.set(colourIndex(n), (shown.get(colourIndex(n)) ?? 0) + n[1]);
      }
      if (open || h.depth === 0) for (const c of h.children ?? []) draw(c, join(at, isSmall(c.data.n) ? '…' : c.data.n[0]));
    };
    draw(laid, path);
    box.setAttribute('aria-label', `Treemap of ${path}, ${humanBytes(view[1])}: ${cells.size} rectangles`);
    renderLegend(shown);
  }

  /** A folder zooms into itself; a file or group of small files, into its folder. */
  function activate(target: EventTarget | null): void {
    const el = target instanceof Element ? target.closest('.cell') : null;
    const hit = el && cells.get(el);
    if (!hit) return;
    const dir = isDir(hit.h.data.n) ? hit.h : hit.h.parent;
    if (!dir || dir.depth === 0) return;
    const chain = dir.ancestors().reverse().slice(1).map((a) => a.data.n as PageDir);
    zoom([...stack, ...chain]);
  }

  box.addEventListener('click', (e) => activate(e.target));
  box.addEventListener('keydown', (e) => {
    if ((e.key === 'Enter' || e.key === ' ') && e.target instanceof Element && e.target.matches('.dir')) {
      e.preventDefault();
      activate(e.target);
    } else if ((e.key === 'Escape' || e.key === 'Backspace') && stack.length > 1) {
      e.preventDefault();
      zoom(stack.slice(0, -1));
    }
  });
  const hover = (e: Event): void => {
    const el = e.target instanceof Element ? e.target.closest('.cell') : null;
    const hit = el && cells.get(el);
    if (hit) details.textContent = describe(hit.h.data.n, hit.path).replaceAll('\n', ' · ');
  };
  box.addEventListener('mouseover', hover);
  box.addEventListener('focusin', hover);
  for (const input of document.querySelectorAll<HTMLInputElement>('input[name="colour"]')) {
    input.disabled = input.value === 'package' && data.packages.length === 0;
    input.addEventListener('change', () => {
      if (input.checked) colourBy = input.value === 'package' ? 'package' : 'layer';
      render();
    });
  }
  // Lay out again when the box changes size (a resized window).
  new ResizeObserver(() => {
    if (box.clientWidth !== size.w || box.clientHeight !== size.h) render();
  }).observe(box);
  render();
}
