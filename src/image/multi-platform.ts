import { sha256, type Digest } from '../digest.js';
import { UserError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { encodeJson, type ImageIndex } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { formatPlatform } from '../oci/platform.js';
import { imagePlatform, sortedRecord, type Image } from './image.js';

/** Several images of one content for different platforms, under one OCI image index. */
export interface MultiPlatformImage {
  readonly index: ImageIndex;
  readonly indexBytes: Buffer;
  readonly digest: Digest;
  readonly images: readonly Image[];
}

/** What a destination can take: one image, or an index of images for several platforms. */
export type Artifact = Image | MultiPlatformImage;

export function isMultiPlatform(artifact: Artifact): artifact is MultiPlatformImage {
  return 'images' in artifact;
}

/** An OCI image index over `images` (in the order given), each described with its config's platform. */
export function assembleIndex(images: readonly Image[], annotations?: Record<string, string>): MultiPlatformImage {
  const seen = new Set<string>();
  const manifests: Descriptor[] = images.map((image) => {
    const platform = imagePlatform(image);
    const name = formatPlatform(platform);
    if (seen.has(name)) throw new UserError(`two images for the platform ${name} in one index`);
    seen.add(name);
    return { mediaType: image.manifest.mediaType, digest: image.digest, size: image.manifestBytes.length, platform };
  });
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  if (annotations && Object.keys(annotations).length) index.annotations = sortedRecord(annotations);
  const indexBytes = encodeJson(index);
  return { index, indexBytes, digest: sha256(indexBytes), images };
}
