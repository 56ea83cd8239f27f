import type { Digest } from '../digest.js';
import { digestStream } from '../digest.js';
import { UserError } from '../errors.js';
import { imagePlatform, type Image } from '../image/image.js';
import { openUncompressed } from '../layer/layer.js';
import { chainIDs } from '../oci/chain-id.js';
import { layerHistory, type ContainerConfig, type History } from '../oci/config.js';
import { formatPlatform, type Platform } from '../oci/platform.js';
import { withImage, type SourceOptions } from '../transport/transports.js';

export interface LayerReport {
  index: number;
  mediaType: string;
  digest: Digest;
  diffID: Digest;
  chainID: Digest;
  /** Bytes of the blob as stored. */
  size: number;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  history?: History;
}

export interface InspectReport {
  reference: string;
  digest: Digest;
  mediaType: string;
  platform: Platform;
  created?: string;
  configDigest: Digest;
  config: ContainerConfig;
  annotations: Record<string, string>;
  history: History[];
  layers: LayerReport[];
  totalSize: number;
  totalUncompressedSize: number;
}

/** Reads a layer through, checking that its uncompressed bytes hash to its diffID; returns their count. */
async function measureLayer(image: Image, index: number): Promise<number> {
  const layer = image.layers[index]!;
  const { digest, size } = await digestStream(await openUncompressed(layer));
  if (digest !== layer.diffID) {
    throw new UserError(`layer ${index} (${layer.descriptor.digest}): uncompressed content hashes to ${digest}, but the config's diffID is ${layer.diffID}`);
  }
  return size;
}

export async function inspectImage(reference: string, options: SourceOptions = {}): Promise<InspectReport> {
  return withImage(
    reference,
    async (image) => {
      const chains = chainIDs(image.layers.map((l) => l.diffID));
      const histories = layerHistory(image.config);
      const layers: LayerReport[] = [];
      for (const [i, layer] of image.layers.entries()) {
        const report: LayerReport = {
          index: i,
          mediaType: layer.descriptor.mediaType,
          digest: layer.descriptor.digest,
          diffID: layer.diffID,
          chainID: chains[i]!,
          size: layer.descriptor.size,
          uncompressedSize: await measureLayer(image, i),
        };
        const h = histories[i];
        if (h) report.history = h;
        layers.push(report);
      }
      const result: InspectReport = {
        reference,
        digest: image.digest,
        mediaType: image.manifest.mediaType,
        platform: imagePlatform(image),
        configDigest: image.manifest.config.digest,
        config: image.config.config ?? {},
        annotations: image.manifest.annotations ?? {},
        history: image.config.history ?? [],
        layers,
        totalSize: layers.reduce((n, l) => n + l.size, 0),
        totalUncompressedSize: layers.reduce((n, l) => n + l.uncompressedSize, 0),
      };
      if (image.config.created) result.created = image.config.created;
      return result;
    },
    options,
  );
}

function human(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function formatInspect(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`Reference:   ${r.reference}`);
  lines.push(`Digest:      ${r.digest}`);
  lines.push(`MediaType:   ${r.mediaType}`);
  lines.push(`Platform:    ${formatPlatform(r.platform)}`);
  if (r.created) lines.push(`Created:     ${r.created}`);
  lines.push(`Config:      ${r.configDigest}`);
  const c = r.config;
  if (c.Entrypoint) lines.push(`Entrypoint:  ${JSON.stringify(c.Entrypoint)}`);
  if (c.Cmd) lines.push(`Cmd:         ${JSON.stringify(c.Cmd)}`);
  if (c.User) lines.push(`User:        ${c.User}`);
  if (c.WorkingDir) lines.push(`WorkingDir:  ${c.WorkingDir}`);
  for (const e of c.Env ?? []) lines.push(`Env:         ${e}`);
  for (const [k, v] of Object.entries(c.Labels ?? {})) lines.push(`Label:       ${k}=${v}`);
  for (const [k, v] of Object.entries(r.annotations)) lines.push(`Annotation:  ${k}=${v}`);
  lines.push(`Size:        ${human(r.totalSize)} compressed, ${human(r.totalUncompressedSize)} uncompressed, ${r.layers.length} layer(s)`);
  for (const l of r.layers) {
    lines.push('');
    lines.push(`Layer ${l.index}  ${human(l.size)} (${human(l.uncompressedSize)} uncompressed)  ${l.mediaType}`);
    lines.push(`  digest   ${l.digest}`);
    lines.push(`  diffID   ${l.diffID}`);
    lines.push(`  chainID  ${l.chainID}`);
    if (l.history) lines.push(`  history  ${[l.history.created_by, l.history.comment].filter(Boolean).join(' — ')}`);
  }
  return lines.join('\n');
}
