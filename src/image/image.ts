import { sha256, type Digest } from '../digest.js';
import type { Layer } from '../layer/layer.js';
import type { ImageConfig } from '../oci/config.js';
import { encodeJson, type Manifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import type { Platform } from '../oci/platform.js';
import { UserError } from '../errors.js';

/**
 * An image: manifest, config and layers, immutable. Manifest and config are kept as the exact bytes
 * they were read or made from, because their digests are of those bytes.
 */
export interface Image {
  readonly manifest: Manifest;
  readonly manifestBytes: Buffer;
  readonly digest: Digest;
  readonly config: ImageConfig;
  readonly configBytes: Buffer;
  readonly layers: readonly Layer[];
}

export function imagePlatform(image: Image): Platform {
  const { os, architecture, variant } = image.config;
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** Assembles an image from a config and layers: serialises the config and writes an OCI manifest. */
export function assembleImage(config: ImageConfig, layers: readonly Layer[], annotations?: Record<string, string>): Image {
  if (config.rootfs.diff_ids.length !== layers.length) {
    throw new Error(`image has ${layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`);
  }
  layers.forEach((layer, i) => {
    if (config.rootfs.diff_ids[i] !== layer.diffID) throw new Error(`layer ${i}: diffID does not match the config's diff_ids`);
  });
  const configBytes = encodeJson(config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: sha256(configBytes), size: configBytes.length },
    layers: layers.map((l) => l.descriptor),
  };
  if (annotations && Object.keys(annotations).length) manifest.annotations = sortedRecord(annotations);
  return fromParts(manifest, encodeJson(manifest), config, configBytes, layers);
}

export function fromParts(manifest: Manifest, manifestBytes: Buffer, config: ImageConfig, configBytes: Buffer, layers: readonly Layer[]): Image {
  return { manifest, manifestBytes, digest: sha256(manifestBytes), config, configBytes, layers };
}

/** Keys in byte order, so JSON made from user input does not depend on the order flags were given. */
export function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The time an image was made: SOURCE_DATE_EPOCH when set (reproducible builds), else now. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env['SOURCE_DATE_EPOCH'];
  if (raw === undefined || raw === '') return undefined;
  // The upper bound is the last second of year 9999, as far as ISO 8601 timestamps in configs go.
  if (!/^\d+$/.test(raw) || Number(raw) > 253402300799) {
    throw new UserError(`SOURCE_DATE_EPOCH="${raw}" is not a whole number of seconds from 0 to 253402300799`);
  }
  return Number(raw);
}

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}
