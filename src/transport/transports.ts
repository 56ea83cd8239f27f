import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { Image } from '../image/image.js';
import type { Digest } from '../digest.js';
import { asOciImage } from '../image/convert.js';
import { isMultiPlatform, type Artifact } from '../image/multi-platform.js';
import type { Platform } from '../oci/platform.js';
import { withDockerArchiveImage, writeDockerArchive } from './docker-archive.js';
import { DirectoryTree } from './file-tree.js';
import { withOciArchiveImage, writeOciArchive } from './oci-archive.js';
import { readOciLayout, writeOciLayout } from './oci-layout.js';
import { parseReference, type ImageReference } from './reference.js';

export interface SourceOptions {
  /** For references that name an index: which platform's image (default: the host's). */
  platform?: Platform;
}

function asReference(ref: ImageReference | string): ImageReference {
  return typeof ref === 'string' ? parseReference(ref) : ref;
}

/**
 * Opens the image a reference names and runs `fn` on it; temporary state (spooled archives) lives only
 * as long as `fn` runs. Every blob read from the image is checked against its digest.
 */
export async function withImage<T>(reference: ImageReference | string, fn: (image: Image) => Promise<T>, options: SourceOptions = {}): Promise<T> {
  const ref = asReference(reference);
  switch (ref.transport) {
    case 'oci':
      return fn(await readOciLayout(new DirectoryTree(resolve(ref.path), `oci:${ref.path}`), ref.tag, options.platform));
    case 'oci-archive':
      return withOciArchiveImage(resolve(ref.path), ref.tag, options.platform, fn);
    case 'docker-archive':
      return withDockerArchiveImage(resolve(ref.path), ref.name, ref.sourceIndex, fn);
  }
}

/**
 * Writes an image (or an index of images for several platforms) to the destination a reference names, never leaving a half-written destination.
 * Returns the manifest digest as written there: OCI destinations store Docker manifests as OCI ones,
 * and docker-archive stores layers uncompressed, so it can differ from `image.digest`.
 */
export async function writeImage(reference: ImageReference | string, artifact: Artifact): Promise<Digest> {
  const ref = asReference(reference);
  if (isMultiPlatform(artifact)) {
    // The images of an index are built as OCI images already; only OCI destinations hold an index.
    switch (ref.transport) {
      case 'oci':
        await writeOciLayout(resolve(ref.path), artifact, ref.tag);
        return artifact.digest;
      case 'oci-archive':
        await writeOciArchive(resolve(ref.path), artifact, ref.tag);
        return artifact.digest;
      case 'docker-archive':
        throw new UserError(`docker-archive:${ref.path}: a docker archive holds one image per name and cannot hold an index of ${artifact.images.length} platforms; write to oci: or oci-archive:, or build one platform at a time`);
    }
  }
  const image = artifact;
  switch (ref.transport) {
    case 'oci': {
      const oci = asOciImage(image);
      await writeOciLayout(resolve(ref.path), oci, ref.tag);
      return oci.digest;
    }
    case 'oci-archive': {
      const oci = asOciImage(image);
      await writeOciArchive(resolve(ref.path), oci, ref.tag);
      return oci.digest;
    }
    case 'docker-archive':
      if (ref.sourceIndex !== undefined) throw new UserError('docker-archive:FILE:@INDEX names a source image; a destination takes :NAME:TAG');
      return writeDockerArchive(resolve(ref.path), image, ref.name);
  }
}
