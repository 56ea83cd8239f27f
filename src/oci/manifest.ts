import { z } from 'zod';
import { UserError } from '../errors.js';
import { descriptorSchema, type Descriptor } from './descriptor.js';
import { MediaType } from './media-types.js';

/** An image manifest (OCI, or Docker schema 2, which has the same shape). */
export interface Manifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** An image index (OCI) or manifest list (Docker): one manifest per platform. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});

const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new UserError(`${where}: not valid JSON (${(err as Error).message})`);
  }
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top)'}: ${i.message}`).join('; ');
}

export function parseManifest(bytes: Uint8Array, where: string): Manifest {
  const result = manifestSchema.safeParse(parseJson(bytes, where));
  if (!result.success) throw new UserError(`${where}: not an image manifest: ${describeIssues(result.error)}`);
  const m = result.data;
  // A manifest without mediaType is OCI (the field is optional there); Docker's always carries it.
  return { ...m, mediaType: m.mediaType ?? MediaType.ociManifest } as Manifest;
}

export function parseIndex(bytes: Uint8Array, where: string): ImageIndex {
  const result = indexSchema.safeParse(parseJson(bytes, where));
  if (!result.success) throw new UserError(`${where}: not an image index: ${describeIssues(result.error)}`);
  const i = result.data;
  return { ...i, mediaType: i.mediaType ?? MediaType.ociIndex } as ImageIndex;
}

/** Peeks at a manifest-or-index document to tell which it is. */
export function manifestKind(bytes: Uint8Array, where: string): 'manifest' | 'index' {
  const doc = parseJson(bytes, where) as { mediaType?: unknown; manifests?: unknown; layers?: unknown };
  if (doc.mediaType === MediaType.ociIndex || doc.mediaType === MediaType.dockerManifestList) return 'index';
  if (doc.mediaType === undefined && Array.isArray(doc.manifests)) return 'index';
  return 'manifest';
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
