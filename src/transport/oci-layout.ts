import { createWriteStream } from 'node:fs';
import { link, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { Digest } from '../digest.js';
import { UserError } from '../errors.js';
import { fromParts, type Image } from '../image/image.js';
import { isMultiPlatform, type Artifact } from '../image/multi-platform.js';
import type { Layer } from '../layer/layer.js';
import { parseImageConfig } from '../oci/config.js';
import type { Descriptor } from '../oci/descriptor.js';
import { encodeJson, manifestKind, parseIndex, parseManifest, type ImageIndex } from '../oci/manifest.js';
import { isIndexMediaType, MediaType } from '../oci/media-types.js';
import { formatPlatform, hostPlatform, type Platform } from '../oci/platform.js';
import { writeAtomically, writeFileAtomic } from '../fs/temp.js';
import { blobPath, DirectoryTree, readVerifiedBlob, VerifyingStream, type FileTree } from './file-tree.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';
const LAYOUT_FILE = 'oci-layout';
const LAYOUT_CONTENT = '{"imageLayoutVersion":"1.0.0"}';

const layoutSchema = z.object({ imageLayoutVersion: z.string() });

async function readLayoutIndex(tree: FileTree): Promise<ImageIndex> {
  if (!(await tree.exists(LAYOUT_FILE))) throw new UserError(`${tree.name}: not an OCI image layout (no ${LAYOUT_FILE} file)`);
  const layout = layoutSchema.safeParse(JSON.parse((await tree.readFile(LAYOUT_FILE)).toString('utf8') || 'null'));
  if (!layout.success) throw new UserError(`${tree.name}: ${LAYOUT_FILE} is not valid`);
  if (layout.data.imageLayoutVersion !== '1.0.0') throw new UserError(`${tree.name}: unsupported imageLayoutVersion ${layout.data.imageLayoutVersion}`);
  return parseIndex(await tree.readFile('index.json'), `${tree.name}: index.json`);
}

function tagsOf(index: ImageIndex): string[] {
  return index.manifests.map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => t !== undefined);
}

function samePlatform(a: Platform, b: { os: string; architecture: string; variant?: string | undefined }): boolean {
  // A missing variant matches any (linux/arm64 matches linux/arm64/v8).
  return a.os === b.os && a.architecture === b.architecture && (!a.variant || !b.variant || a.variant === b.variant);
}

/** From an image index, the manifest for a platform (the host's by default). */
export async function selectFromIndex(tree: FileTree, index: ImageIndex, where: string, platform?: Platform): Promise<Descriptor> {
  const images = index.manifests.filter((d) => !isIndexMediaType(d.mediaType));
  if (images.length === 1 && !platform) return images[0]!;
  const wanted = platform ?? hostPlatform();
  const match = images.find((d) => d.platform && samePlatform(wanted, d.platform));
  if (match) return match;
  const offered = images.map((d) => (d.platform ? formatPlatform(d.platform) : d.digest)).join(', ');
  throw new UserError(`${where}: no image for ${formatPlatform(wanted)} in the index (it has: ${offered || 'nothing'})`);
}

/** Loads the image a manifest descriptor names, checking every blob read against its digest. */
export async function loadImage(tree: FileTree, descriptor: Descriptor, platform?: Platform): Promise<Image> {
  let desc = descriptor;
  for (let depth = 0; ; depth++) {
    const bytes = await readVerifiedBlob(tree, desc.digest, desc.size);
    const where = `${tree.name}: manifest ${desc.digest}`;
    if (isIndexMediaType(desc.mediaType) || manifestKind(bytes, where) === 'index') {
      if (depth > 4) throw new UserError(`${where}: image indexes nested too deeply`);
      desc = await selectFromIndex(tree, parseIndex(bytes, where), where, platform);
      continue;
    }
    const manifest = parseManifest(bytes, where);
    const configBytes = await readVerifiedBlob(tree, manifest.config.digest, manifest.config.size);
    const config = parseImageConfig(configBytes, `${tree.name}: config ${manifest.config.digest}`);
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new UserError(`${where}: lists ${manifest.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`);
    }
    const layers: Layer[] = manifest.layers.map((d, i) => ({
      descriptor: d,
      diffID: config.rootfs.diff_ids[i]!,
      open: async () => (await tree.open(blobPath(d.digest))).pipe(new VerifyingStream(d.digest, tree.name, d.size)),
    }));
    return fromParts(manifest, bytes, config, configBytes, layers);
  }
}

/** Reads the image tagged `tag` (or the only image) from an OCI image layout. */
export async function readOciLayout(tree: FileTree, tag?: string, platform?: Platform): Promise<Image> {
  const index = await readLayoutIndex(tree);
  let chosen: Descriptor | undefined;
  if (tag !== undefined) {
    chosen = index.manifests.find((d) => d.annotations?.[REF_NAME] === tag);
    if (!chosen) throw new UserError(`${tree.name}: no image tagged "${tag}" (tags: ${tagsOf(index).join(', ') || 'none'})`);
  } else if (index.manifests.length === 1) {
    chosen = index.manifests[0]!;
  } else if (index.manifests.length === 0) {
    throw new UserError(`${tree.name}: the layout holds no image`);
  } else {
    throw new UserError(`${tree.name}: the layout holds ${index.manifests.length} images; name one with :TAG (tags: ${tagsOf(index).join(', ') || 'none'})`);
  }
  return loadImage(tree, chosen, platform);
}

/** Adds a blob under blobs/sha256 unless it is there already; returns whether it was added. */
async function putBlob(dir: string, digest: Digest, write: (tmp: string) => Promise<void>): Promise<boolean> {
  const dest = join(dir, blobPath(digest));
  try {
    await stat(dest);
    return false;
  } catch {
    // not there yet
  }
  await writeAtomically(dest, write);
  return true;
}

/** Writes a layer's blob to `tmp`: a hard link when the blob is already a local file, else a copy. */
async function writeLayerBlob(layer: Layer, tmp: string): Promise<void> {
  if (layer.localPath) {
    try {
      await link(layer.localPath, tmp);
      return;
    } catch {
      // another file system, or links not allowed: copy instead
    }
  }
  await pipeline(await layer.open(), createWriteStream(tmp));
}

/** Writes every blob of an image into a layout folder, noting in `added` each path it adds (for rollback). */
export async function writeImageBlobs(dir: string, image: Image, added: string[] = []): Promise<string[]> {
  await mkdir(join(dir, 'blobs/sha256'), { recursive: true });
  const note = (digest: Digest, wasAdded: boolean) => wasAdded && added.push(join(dir, blobPath(digest)));
  for (const layer of image.layers) {
    note(layer.descriptor.digest, await putBlob(dir, layer.descriptor.digest, (tmp) => writeLayerBlob(layer, tmp)));
  }
  note(image.manifest.config.digest, await putBlob(dir, image.manifest.config.digest, (tmp) => writeFile(tmp, image.configBytes)));
  note(image.digest, await putBlob(dir, image.digest, (tmp) => writeFile(tmp, image.manifestBytes)));
  return added;
}

/** Writes the blobs of an image, or of every image of an index and the index itself. */
async function writeArtifactBlobs(dir: string, artifact: Artifact, added: string[] = []): Promise<string[]> {
  if (!isMultiPlatform(artifact)) return writeImageBlobs(dir, artifact, added);
  for (const image of artifact.images) await writeImageBlobs(dir, image, added);
  if (await putBlob(dir, artifact.digest, (tmp) => writeFile(tmp, artifact.indexBytes))) added.push(join(dir, blobPath(artifact.digest)));
  return added;
}

export function manifestDescriptor(artifact: Artifact, tag?: string): Descriptor {
  const d: Descriptor = isMultiPlatform(artifact)
    ? { mediaType: MediaType.ociIndex, digest: artifact.digest, size: artifact.indexBytes.length }
    : { mediaType: artifact.manifest.mediaType, digest: artifact.digest, size: artifact.manifestBytes.length };
  if (tag !== undefined) d.annotations = { [REF_NAME]: tag };
  return d;
}

async function isEmptyOrMissing(dir: string): Promise<'missing' | 'empty' | 'layout' | 'other'> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR') return 'other';
    throw err;
  }
  if (names.length === 0) return 'empty';
  return names.includes(LAYOUT_FILE) ? 'layout' : 'other';
}

/**
 * Writes a fresh layout with one image (or one index of images) into `dir`, which must not exist
 * (callers rename it into place).
 */
export async function writeNewLayout(dir: string, image: Artifact, tag?: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeArtifactBlobs(dir, image);
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [manifestDescriptor(image, tag)] };
  await writeFile(join(dir, LAYOUT_FILE), Buffer.from(LAYOUT_CONTENT));
  await writeFile(join(dir, 'index.json'), encodeJson(index));
}

/**
 * Writes an image into the OCI layout at `dir` under `tag`: a new layout is built under a temporary
 * name and renamed into place; an existing one gets its blobs first and its index.json replaced
 * atomically last, so it stays valid if anything fails (new blobs are then removed again).
 */
export async function writeOciLayout(dir: string, image: Artifact, tag?: string): Promise<void> {
  const state = await isEmptyOrMissing(dir);
  if (state === 'other') throw new UserError(`oci:${dir}: the destination exists and is not an OCI image layout`);
  if (state === 'missing' || state === 'empty') {
    await mkdir(dirname(dir), { recursive: true });
    await writeAtomically(dir, async (tmp) => {
      await writeNewLayout(tmp, image, tag);
      // rename() cannot replace a folder: an empty one given as destination goes just before.
      if (state === 'empty') await rm(dir, { recursive: true });
    });
    return;
  }

  const index = await readLayoutIndex(new DirectoryTree(dir, `oci:${dir}`));
  const added: string[] = [];
  try {
    await writeArtifactBlobs(dir, image, added);
    const kept = index.manifests.filter((d) => {
      if (tag !== undefined) return d.annotations?.[REF_NAME] !== tag;
      // Untagged: replace only an untagged entry for the same image.
      return !(d.digest === image.digest && !d.annotations?.[REF_NAME]);
    });
    const updated: ImageIndex = { ...index, manifests: [...kept, manifestDescriptor(image, tag)] };
    await writeFileAtomic(join(dir, 'index.json'), encodeJson(updated));
  } catch (err) {
    await Promise.all(added.map((p) => rm(p, { force: true })));
    throw err;
  }
}
