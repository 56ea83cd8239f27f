import { UserError } from '../errors.js';

/** An image reference in skopeo's transport syntax. */
export type ImageReference =
  | { transport: 'oci'; path: string; tag?: string }
  | { transport: 'oci-archive'; path: string; tag?: string }
  | { transport: 'docker-archive'; path: string; name?: string; sourceIndex?: number };

export const TRANSPORTS = ['oci', 'oci-archive', 'docker-archive'] as const;
const LATER = ['docker', 'docker-daemon', 'containers-storage', 'dir'];

/** What the OCI layout accepts as a `org.opencontainers.image.ref.name` (as containers/image checks it). */
const OCI_REF = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * A Docker reference `[domain/]path[:tag]` as docker's reference grammar reads it: the first component
 * is a registry only if it has a '.' or a ':' or is `localhost`; path components are lower case.
 */
function isDockerName(text: string): boolean {
  const slash = text.lastIndexOf('/');
  const colon = text.lastIndexOf(':');
  const hasTag = colon > slash;
  const name = hasTag ? text.slice(0, colon) : text;
  if (hasTag && !TAG.test(text.slice(colon + 1))) return false;
  const parts = name.split('/');
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!DOMAIN.test(first)) return false;
    parts.shift();
  }
  return parts.length > 0 && parts.every((p) => PATH_COMPONENT.test(p));
}

/**
 * Parses `oci:PATH[:TAG]`, `oci-archive:FILE[:TAG]` or `docker-archive:FILE[:NAME[:TAG]|:@INDEX]`. As in
 * skopeo, the path ends at the first ':' after the transport.
 */
export function parseReference(text: string): ImageReference {
  const colon = text.indexOf(':');
  const transport = colon === -1 ? '' : text.slice(0, colon);
  const rest = colon === -1 ? '' : text.slice(colon + 1);
  if (transport === 'docker' && rest.startsWith('//')) {
    throw new UserError(`"${text}": the docker:// (registry) transport is not available in this version; use ${TRANSPORTS.map((t) => `${t}:`).join(', ')}`);
  }
  if (!(TRANSPORTS as readonly string[]).includes(transport)) {
    const hint = LATER.includes(transport) ? ` (the ${transport}: transport is not available in this version)` : '';
    throw new UserError(`"${text}" is not an image reference${hint}: expected one of ${TRANSPORTS.map((t) => `${t}:PATH`).join(', ')}`);
  }
  const sep = rest.indexOf(':');
  const path = sep === -1 ? rest : rest.slice(0, sep);
  const suffix = sep === -1 ? undefined : rest.slice(sep + 1);
  if (path === '') throw new UserError(`"${text}": the ${transport}: reference has no path`);

  if (transport === 'docker-archive') {
    if (suffix === undefined || suffix === '') return { transport, path };
    if (suffix.startsWith('@')) {
      const index = Number(suffix.slice(1));
      if (!Number.isInteger(index) || index < 0) throw new UserError(`"${text}": "${suffix}" is not a source index (@0, @1, ...)`);
      return { transport, path, sourceIndex: index };
    }
    if (!isDockerName(suffix)) throw new UserError(`"${text}": "${suffix}" is not a valid image name[:tag]`);
    return { transport, path, name: withDefaultTag(suffix) };
  }
  if (suffix === undefined || suffix === '') return { transport: transport as 'oci' | 'oci-archive', path };
  if (!OCI_REF.test(suffix)) throw new UserError(`"${text}": "${suffix}" is not a valid tag (letters, digits, '.', '_', '-', '/')`);
  return { transport: transport as 'oci' | 'oci-archive', path, tag: suffix };
}

/** `busybox` → `busybox:latest`, leaving registry ports alone. */
export function withDefaultTag(name: string): string {
  const lastSlash = name.lastIndexOf('/');
  return name.slice(lastSlash + 1).includes(':') ? name : `${name}:latest`;
}

/** `busybox:latest` → `docker.io/library/busybox:latest`, as Docker records names in OCI annotations. */
export function fullyQualifiedName(name: string): string {
  const parts = name.split('/');
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) return name;
  return parts.length === 1 ? `docker.io/library/${name}` : `docker.io/${name}`;
}

export function formatReference(ref: ImageReference): string {
  switch (ref.transport) {
    case 'docker-archive':
      return `docker-archive:${ref.path}${ref.name ? `:${ref.name}` : ref.sourceIndex !== undefined ? `:@${ref.sourceIndex}` : ''}`;
    default:
      return `${ref.transport}:${ref.path}${ref.tag ? `:${ref.tag}` : ''}`;
  }
}
