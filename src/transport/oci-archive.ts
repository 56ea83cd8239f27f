import { join } from 'node:path';
import type { Image } from '../image/image.js';
import type { Artifact } from '../image/multi-platform.js';
import { withTempDir } from '../fs/temp.js';
import type { Platform } from '../oci/platform.js';
import { packDirectory } from './archive.js';
import { TarTree } from './file-tree.js';
import { readOciLayout, writeNewLayout } from './oci-layout.js';

/** Runs `fn` on the image in an oci-archive (an OCI layout as one tar). */
export async function withOciArchiveImage<T>(file: string, tag: string | undefined, platform: Platform | undefined, fn: (image: Image) => Promise<T>): Promise<T> {
  return withTempDir('oci-archive', async (spool) => {
    const tree = await TarTree.open(file, `oci-archive:${file}`, spool);
    return fn(await readOciLayout(tree, tag, platform));
  });
}

/** Writes an image (or an index of images) as an oci-archive, replacing `file` atomically (as skopeo does). */
export async function writeOciArchive(file: string, image: Artifact, tag?: string): Promise<void> {
  await withTempDir('oci-archive', async (staging) => {
    const layout = join(staging, 'layout');
    await writeNewLayout(layout, image, tag);
    await packDirectory(layout, file);
  });
}
