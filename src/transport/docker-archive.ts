import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { sniffCompression } from '../compression/detect.js';
import { DigestingStream, digestStream, sha256, type Digest } from '../digest.js';
import { UserError } from '../errors.js';
import { withTempDir } from '../fs/temp.js';
import { fromParts, type Image } from '../image/image.js';
import { openUncompressed, type Layer } from '../layer/layer.js';
import { parseImageConfig } from '../oci/config.js';
import type { Descriptor } from '../oci/descriptor.js';
import { encodeJson, parseIndex, type ImageIndex, type Manifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { packDirectory } from './archive.js';
import { blobPath, TarTree, VerifyingStream, type FileTree } from './file-tree.js';
import { loadImage, REF_NAME } from './oci-layout.js';
import { fullyQualifiedName, withDefaultTag } from './reference.js';

/** One image of `manifest.json`, the index `docker save` writes. */
const archiveManifestSchema = z.array(
  z.looseObject({
    Config: z.string(),
    RepoTags: z.array(z.string()).nullable().optional(),
    Layers: z.array(z.string()),
  }),
);
type ArchiveItem = z.infer<typeof archiveManifestSchema>[number];

/** Docker Hub's implied prefix, so "busybox:latest" matches "docker.io/library/busybox:latest". */
function familiarName(name: string): string {
  return name.replace(/^docker\.io\/(library\/)?/, '');
}

function choose(items: ArchiveItem[], where: string, name?: string, sourceIndex?: number): ArchiveItem {
  if (sourceIndex !== undefined) {
    const item = items[sourceIndex];
    if (!item) throw new UserError(`${where}: there is no image @${sourceIndex} (the archive has ${items.length})`);
    return item;
  }
  if (name !== undefined) {
    const wanted = familiarName(name);
    const item = items.find((i) => (i.RepoTags ?? []).some((t) => familiarName(t) === wanted));
    if (!item) {
      const all = items.flatMap((i) => i.RepoTags ?? []);
      throw new UserError(`${where}: no image named ${name} (names: ${all.join(', ') || 'none'})`);
    }
    return item;
  }
  if (items.length !== 1) throw new UserError(`${where}: the archive holds ${items.length} images; name one with :NAME:TAG or :@INDEX`);
  return items[0]!;
}

/** In an archive that is also an OCI layout, the layout's image whose config is `item.Config`. */
async function ownOciManifest(tree: FileTree, item: ArchiveItem): Promise<Image | undefined> {
  const config = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(item.Config);
  if (!config || !(await tree.exists('oci-layout')) || !(await tree.exists('index.json'))) return undefined;
  const index = parseIndex(await tree.readFile('index.json'), `${tree.name}: index.json`);
  for (const descriptor of index.manifests) {
    if (descriptor.mediaType !== MediaType.ociManifest && descriptor.mediaType !== MediaType.dockerManifest) continue;
    if (!(await tree.exists(blobPath(descriptor.digest)))) continue;
    const image = await loadImage(tree, descriptor);
    if (image.manifest.config.digest === `sha256:${config[1]}`) return image;
  }
  return undefined;
}

/**
 * Reads an image from a `docker save` archive, classic (`<id>/layer.tar`) or the OCI-style one of Docker
 * 25+ (`blobs/sha256/...`). As skopeo does, it is presented with a Docker schema 2 manifest.
 */
export async function readDockerArchive(tree: FileTree, name?: string, sourceIndex?: number): Promise<Image> {
  if (!(await tree.exists('manifest.json'))) throw new UserError(`${tree.name}: not a docker-archive (no manifest.json)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse((await tree.readFile('manifest.json')).toString('utf8'));
  } catch (err) {
    throw new UserError(`${tree.name}: manifest.json is not valid JSON (${(err as Error).message})`);
  }
  const items = archiveManifestSchema.safeParse(parsed);
  if (!items.success) throw new UserError(`${tree.name}: manifest.json is not a docker-archive manifest`);
  const item = choose(items.data, tree.name, name, sourceIndex);

  // Docker 25+ archives are also OCI layouts: their own manifest for this image is the one to report.
  const own = await ownOciManifest(tree, item);
  if (own) return own;

  const configBytes = await tree.readFile(item.Config);
  const config = parseImageConfig(configBytes, `${tree.name}: ${item.Config}`);
  if (config.rootfs.diff_ids.length !== item.Layers.length) {
    throw new UserError(`${tree.name}: manifest.json lists ${item.Layers.length} layers but the config has ${config.rootfs.diff_ids.length} diff_ids`);
  }

  const layers: Layer[] = [];
  for (const [i, path] of item.Layers.entries()) {
    const diffID = config.rootfs.diff_ids[i]!;
    const size = await tree.size(path);
    const compression = sniffCompression(await tree.head(path, 6));
    let descriptor: Descriptor;
    if (compression === 'none') {
      descriptor = { mediaType: MediaType.dockerLayer, digest: diffID, size };
    } else if (compression === 'gzip' || compression === 'zstd') {
      const named = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(path);
      const digest: Digest = named ? `sha256:${named[1]}` : (await digestStream(await tree.open(path))).digest;
      descriptor = { mediaType: compression === 'gzip' ? MediaType.dockerLayerGzip : MediaType.dockerLayerZstd, digest, size };
    } else {
      throw new UserError(`${tree.name}: layer ${path} is ${compression}-compressed, which images cannot use`);
    }
    layers.push({
      descriptor,
      diffID,
      open: async () => (await tree.open(path)).pipe(new VerifyingStream(descriptor.digest, `${tree.name}: ${path}`, size)),
    });
  }
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, digest: sha256(configBytes), size: configBytes.length },
    layers: layers.map((l) => l.descriptor),
  };
  return fromParts(manifest, encodeJson(manifest), config, configBytes, layers);
}

export async function withDockerArchiveImage<T>(file: string, name: string | undefined, sourceIndex: number | undefined, fn: (image: Image) => Promise<T>): Promise<T> {
  return withTempDir('docker-archive', async (spool) => {
    const tree = await TarTree.open(file, `docker-archive:${file}`, spool);
    return fn(await readDockerArchive(tree, name, sourceIndex));
  });
}

/**
 * Writes a `docker save` archive as Docker 25+ does: manifest.json for `docker load` / `podman load`, and
 * an OCI layout beside it, with uncompressed layers (each checked against its diffID as it is written).
 */
export async function writeDockerArchive(file: string, image: Image, name?: string): Promise<Digest> {
  const repoTag = name ? withDefaultTag(name) : undefined;
  return withTempDir('docker-archive', async (staging) => {
    const root = join(staging, 'archive');
    await mkdir(join(root, 'blobs/sha256'), { recursive: true });
    const layerDescriptors: Descriptor[] = [];
    for (const layer of image.layers) {
      const dest = join(root, blobPath(layer.diffID));
      const counter = new DigestingStream();
      await pipeline(await openUncompressed(layer), new VerifyingStream(layer.diffID, `layer ${layer.descriptor.digest} (uncompressed)`), counter, createWriteStream(dest));
      layerDescriptors.push({ mediaType: MediaType.ociLayer, digest: layer.diffID, size: counter.size });
    }
    const configDigest = sha256(image.configBytes);
    await writeFile(join(root, blobPath(configDigest)), image.configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: image.configBytes.length },
      layers: layerDescriptors,
    };
    const manifestBytes = encodeJson(manifest);
    const manifestDigest = sha256(manifestBytes);
    await writeFile(join(root, blobPath(manifestDigest)), manifestBytes);
    const descriptor: Descriptor = { mediaType: MediaType.ociManifest, digest: manifestDigest, size: manifestBytes.length };
    if (repoTag) {
      const tag = repoTag.slice(repoTag.lastIndexOf(':') + 1);
      descriptor.annotations = { 'io.containerd.image.name': fullyQualifiedName(repoTag), [REF_NAME]: tag };
    }
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [descriptor] };
    await writeFile(join(root, 'index.json'), encodeJson(index));
    await writeFile(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const archiveManifest = [
      {
        Config: blobPath(configDigest),
        RepoTags: repoTag ? [repoTag] : [],
        Layers: image.layers.map((l) => blobPath(l.diffID)),
      },
    ];
    await writeFile(join(root, 'manifest.json'), encodeJson(archiveManifest));
    await packDirectory(root, file);
    return manifestDigest;
  });
}
