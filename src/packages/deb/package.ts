import { Paragraph, parseControl } from './control.js';
import { parseRelations, type Relation, type RelationGroup } from './relation.js';

/**
 * A binary package as an index lists it. The fields the resolver reads on every package (name, version,
 * architecture, Provides) are parsed up front; the full paragraph is parsed only for packages that are
 * looked at, because a Packages index has ~60,000 of them.
 */
export class DebPackage {
  private full: Paragraph | undefined;
  private relations = new Map<string, RelationGroup[]>();

  constructor(
    readonly name: string,
    readonly version: string,
    readonly architecture: string,
    private readonly text: string,
    /** Which repository (mirror URI) it came from: its Filename is relative to that. */
    readonly repository: string,
    /** e.g. `bookworm/main` */
    readonly origin: string,
  ) {}

  /**
   * The same package with its own copy of its text: a package keeps the index text it was sliced from
   * alive, so packages kept past resolution are detached to let the ~45 MB index be collected.
   */
  detach(): DebPackage {
    const copy = new DebPackage(this.name, this.version, this.architecture, Buffer.from(this.text, 'utf8').toString('utf8'), this.repository, this.origin);
    return copy;
  }

  get paragraph(): Paragraph {
    this.full ??= parseControl(this.text, { source: `${this.origin} ${this.name}` })[0]!;
    return this.full;
  }

  field(name: string): string | undefined {
    return this.paragraph.get(name);
  }

  /**
   * A single-line field read straight from the index text, without parsing the paragraph: for scans
   * over every package (presets, the Provides index), which must not build 60,000 paragraphs.
   */
  quickField(name: string): string | undefined {
    if (this.full) return this.full.get(name);
    const at = this.text.search(new RegExp(`^${name}:`, 'mi'));
    if (at === -1) return undefined;
    const end = this.text.indexOf('\n', at);
    return this.text.slice(at + name.length + 1, end === -1 ? undefined : end).trim();
  }

  relation(field: 'Depends' | 'Pre-Depends' | 'Recommends' | 'Suggests' | 'Conflicts' | 'Breaks' | 'Provides' | 'Replaces'): RelationGroup[] {
    let parsed = this.relations.get(field);
    if (!parsed) {
      parsed = parseRelations(this.field(field), `${this.name} ${this.version} ${field}`);
      this.relations.set(field, parsed);
    }
    return parsed;
  }

  get provides(): Relation[] {
    return this.relation('Provides').flat();
  }

  get essential(): boolean {
    return (this.quickField('Essential') ?? '').toLowerCase() === 'yes';
  }

  get priority(): string {
    return this.quickField('Priority') ?? 'optional';
  }

  get multiArch(): string {
    return this.field('Multi-Arch') ?? 'no';
  }

  get filename(): string {
    return this.field('Filename') ?? '';
  }

  get size(): number {
    return Number(this.field('Size') ?? 0);
  }

  get sha256(): string {
    return this.field('SHA256') ?? '';
  }

  get id(): string {
    return `${this.name}=${this.version}:${this.architecture}`;
  }
}

/** Splits a Packages index into packages, reading only the fields every package needs. */
export function parsePackagesIndex(text: string, repository: string, origin: string): DebPackage[] {
  const out: DebPackage[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n\n', start);
    if (end === -1) end = text.length;
    const chunk = text.slice(start, end);
    start = end + 2;
    if (chunk.trim() === '') continue;
    const name = /^Package:\s*(\S+)/m.exec(chunk)?.[1];
    const version = /^Version:\s*(\S+)/m.exec(chunk)?.[1];
    const arch = /^Architecture:\s*(\S+)/m.exec(chunk)?.[1];
    if (!name || !version || !arch) continue;
    out.push(new DebPackage(name, version, arch, chunk, repository, origin));
  }
  return out;
}
