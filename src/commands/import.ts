import { mkdir, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { canonicalizeEntries, type SourcedEntry } from '../entries/entry-set.js';
import { scanDirectory } from '../entries/directory-source.js';
import { scanTarArchive } from '../entries/tar-source.js';
import { UserError } from '../errors.js';
import { withTempDir } from '../fs/temp.js';
import { assembleImage, isoTime, sortedRecord, type Image } from '../image/image.js';
import { fileLayer, type Layer } from '../layer/layer.js';
import { writeLayer } from '../layer/layer-writer.js';
import type { ContainerConfig, History, ImageConfig } from '../oci/config.js';
import type { Compression } from '../oci/media-types.js';
import { checkCompressionOptions, type CompressionOptions } from '../compression/compress.js';
import { hostPlatform, type Platform } from '../oci/platform.js';
import { writeImage } from '../transport/transports.js';
import { parseReference } from '../transport/reference.js';
import type { Digest } from '../digest.js';

export interface ImportOptions {
  /** A directory, a tar file (plain, gzip, xz, zstd), '-' for `stdin`, or 'empty' for an image without layers. */
  source: string | { empty: true } | { emptyLayer: true };
  destination: string;
  /** Replaces every entry's owner (for folders made by a non-root user). */
  owner?: { uid: number; gid: number };
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  platform?: Platform;
  /** The history comment of the layer. */
  history?: string;
  compression?: Compression;
  compressionLevel?: number;
  /** Clamp mtimes and set `created` (SOURCE_DATE_EPOCH). */
  sourceDateEpoch?: number;
  /** Standard input, when source is '-'. */
  stdin?: Readable;
}

export interface ImportResult {
  /** The manifest digest of the image as the destination holds it. */
  digest: Digest;
  image: Image;
  /** Paths of the source that cannot be in a layer (sockets) and were left out. */
  skipped: string[];
}

async function collectEntries(options: ImportOptions, spool: string): Promise<{ entries: SourcedEntry[]; skipped: string[] }> {
  const source = options.source;
  if (typeof source !== 'string') return { entries: [], skipped: [] };
  if (source === '-') {
    const stdin = options.stdin ?? process.stdin;
    return { entries: (await scanTarArchive(stdin, 'standard input', spool)).entries, skipped: [] };
  }
  let kind;
  try {
    kind = await stat(source);
  } catch (err) {
    throw new UserError(`source "${source}" does not exist or cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (kind.isDirectory()) return scanDirectory(source);
  if (!kind.isFile()) throw new UserError(`source "${source}" is neither a directory nor a tar file`);
  return { entries: (await scanTarArchive(createReadStream(source, { highWaterMark: 1 << 20 }), `"${source}"`, spool)).entries, skipped: [] };
}

function containerConfig(options: ImportOptions): ContainerConfig | undefined {
  const c: ContainerConfig = {};
  if (options.user !== undefined) c.User = options.user;
  if (options.env?.length) c.Env = options.env;
  if (options.entrypoint) c.Entrypoint = options.entrypoint;
  if (options.cmd) c.Cmd = options.cmd;
  if (options.workdir !== undefined) c.WorkingDir = options.workdir;
  if (options.labels && Object.keys(options.labels).length) c.Labels = sortedRecord(options.labels);
  return Object.keys(c).length ? c : undefined;
}

/**
 * `docker import` without a daemon: a folder or tar becomes a one-layer image (or, with `empty`, an image
 * without layers). The layer is written once into a temporary blob, then handed to the destination.
 */
export async function importImage(options: ImportOptions): Promise<ImportResult> {
  const destination = parseReference(options.destination);
  const compression: CompressionOptions = {
    compression: options.compression ?? 'gzip',
    ...(options.compressionLevel !== undefined ? { level: options.compressionLevel } : {}),
  };
  checkCompressionOptions(compression); // before the source is read, not after
  const epoch = options.sourceDateEpoch;
  const created = isoTime(epoch ?? Math.floor(Date.now() / 1000));
  const platform = options.platform ?? hostPlatform();

  return withTempDir('import', async (work) => {
    const spool = join(work, 'spool');
    await mkdir(spool);
    const layers: Layer[] = [];
    let skipped: string[] = [];
    const noLayers = typeof options.source !== 'string' && 'empty' in options.source;
    if (!noLayers) {
      const collected = await collectEntries(options, spool);
      skipped = collected.skipped;
      const entries = canonicalizeEntries(collected.entries, {
        ...(epoch !== undefined ? { maxMtime: epoch } : {}),
        ...(options.owner ? { owner: options.owner } : {}),
      });
      const blob = join(work, 'layer.blob');
      const written = await writeLayer(entries, blob, compression);
      layers.push(fileLayer(blob, written.descriptor, written.diffID));
    }

    const history: History = { created, created_by: 'fromscratch import' };
    if (options.history !== undefined) history.comment = options.history;
    if (noLayers) history.empty_layer = true;
    const config: ImageConfig = {
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      ...(containerConfig(options) ? { config: containerConfig(options)! } : {}),
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
      history: [history],
    };
    const image = assembleImage(config, layers, options.annotations);
    // The destination may store it differently (docker-archive keeps layers uncompressed): its digest.
    const digest = await writeImage(destination, image);
    return { digest, image, skipped };
  });
}
