import type { VersionOperator } from './version.js';

/** One alternative of a relation field: `name[:arch] [(op version)]`. */
export interface Relation {
  name: string;
  /** `any`, `native` or an architecture, when the field qualifies the name (`python3:any`). */
  archQualifier?: string;
  op?: VersionOperator;
  version?: string;
}

/** A relation field (Depends, Pre-Depends, Conflicts, Provides...): ANDed groups of ORed alternatives. */
export type RelationGroup = Relation[];

export class RelationSyntaxError extends Error {
  override readonly name = 'RelationSyntaxError';
}

const ITEM = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^)\s]+)\s*\))?\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$/;

/**
 * Parses a relation field (Debian policy §7.1). Architecture restrictions (`[amd64]`) and build
 * profiles (`<!nocheck>`) only occur in source packages and are ignored here. The obsolete `<` and `>`
 * mean `<=` and `>=`.
 */
export function parseRelations(field: string | undefined, where = 'relation field'): RelationGroup[] {
  if (!field || field.trim() === '') return [];
  return field
    .replace(/\n/g, ' ')
    .split(',')
    .map((group) => group.trim())
    .filter((group) => group !== '')
    .map((group) =>
      group.split('|').map((alt) => {
        const m = ITEM.exec(alt.trim());
        if (!m) throw new RelationSyntaxError(`${where}: cannot parse "${alt.trim()}"`);
        const relation: Relation = { name: m[1]! };
        if (m[2]) relation.archQualifier = m[2];
        if (m[3]) {
          relation.op = (m[3] === '<' ? '<=' : m[3] === '>' ? '>=' : m[3]) as VersionOperator;
          relation.version = m[4]!;
        }
        return relation;
      }),
    );
}

export function formatRelation(r: Relation): string {
  return `${r.name}${r.archQualifier ? `:${r.archQualifier}` : ''}${r.op ? ` (${r.op} ${r.version})` : ''}`;
}
