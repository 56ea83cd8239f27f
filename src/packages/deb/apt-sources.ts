import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseControl } from './control.js';

/** One repository line of the host's apt configuration. */
export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  architectures?: string[];
  /** Keyring files (or an inline ASCII-armoured key block) the repository must be signed by. */
  signedBy?: string;
  /** Where it was read, for messages: `/etc/apt/sources.list:3`. */
  origin: string;
}

function splitList(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter((x) => x !== '');
}

/** `deb [arch=amd64 signed-by=/k.gpg] URI SUITE COMPONENT...` (sources.list(5), one-line style). */
export function parseOneLineSources(text: string, file: string): AptSource[] {
  const out: AptSource[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) return;
    const options = new Map<string, string>();
    for (const opt of (m[2] ?? '').replace(/\s*=\s*/g, '=').split(/\s+/).filter(Boolean)) {
      const eq = opt.indexOf('=');
      if (eq > 0) options.set(opt.slice(0, eq).toLowerCase(), opt.slice(eq + 1));
    }
    const source: AptSource = { types: [m[1]!], uris: [m[3]!], suites: [m[4]!], components: splitList(m[5]), origin: `${file}:${i + 1}` };
    if (options.has('arch')) source.architectures = options.get('arch')!.split(',');
    if (options.has('signed-by')) source.signedBy = options.get('signed-by')!;
    out.push(source);
  });
  return out;
}

/** deb822-style `.sources` files (sources.list(5)); `Enabled: no` entries are skipped. */
export function parseDeb822Sources(text: string, file: string): AptSource[] {
  return parseControl(text, { comments: true, source: file })
    .filter((p) => (p.get('Enabled') ?? 'yes').toLowerCase() !== 'no')
    .map((p) => {
      const source: AptSource = {
        types: splitList(p.get('Types')),
        uris: splitList(p.get('URIs')),
        suites: splitList(p.get('Suites')),
        components: splitList(p.get('Components')),
        origin: `${file}:${p.line}`,
      };
      const arch = p.get('Architectures');
      if (arch) source.architectures = splitList(arch);
      const signedBy = p.get('Signed-By');
      if (signedBy) source.signedBy = signedBy.trim();
      return source;
    });
}

/**
 * The host's apt repositories: /etc/apt/sources.list and /etc/apt/sources.list.d/*.list and *.sources
 * (files with other endings, such as `.disabled`, are ignored, as apt does). `root` lets tests point
 * elsewhere.
 */
export async function readHostSources(root = '/etc/apt'): Promise<AptSource[]> {
  const out: AptSource[] = [];
  const read = async (path: string) => {
    try {
      return await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  const main = await read(join(root, 'sources.list'));
  if (main !== undefined) out.push(...parseOneLineSources(main, join(root, 'sources.list')));
  let names: string[] = [];
  try {
    names = (await readdir(join(root, 'sources.list.d'))).sort();
  } catch {
    // no sources.list.d
  }
  for (const name of names) {
    const path = join(root, 'sources.list.d', name);
    if (name.endsWith('.list')) out.push(...parseOneLineSources((await read(path)) ?? '', path));
    else if (name.endsWith('.sources')) out.push(...parseDeb822Sources((await read(path)) ?? '', path));
  }
  return out.filter((s) => s.types.includes('deb'));
}
