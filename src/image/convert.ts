import type { Layer } from '../layer/layer.js';
import type { Descriptor } from '../oci/descriptor.js';
import { encodeJson, type Manifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { fromParts, type Image } from './image.js';

const OCI_LAYER_TYPE: Record<string, string> = {
  [MediaType.dockerLayer]: MediaType.ociLayer,
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.dockerLayerZstd]: MediaType.ociLayerZstd,
  [MediaType.dockerForeignLayerGzip]: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

/**
 * The same image with an OCI manifest: a Docker schema 2 manifest gets OCI media types for itself, its
 * config and its layers (the blobs are unchanged). OCI layouts need this: tools such as skopeo only look
 * for OCI manifests in them. An OCI image is returned as it is.
 */
export function asOciImage(image: Image): Image {
  if (image.manifest.mediaType !== MediaType.dockerManifest) return image;
  const retype = (d: Descriptor, mediaType: string): Descriptor => ({ ...d, mediaType });
  const layers: Layer[] = image.layers.map((layer) => ({
    ...layer,
    descriptor: retype(layer.descriptor, OCI_LAYER_TYPE[layer.descriptor.mediaType] ?? layer.descriptor.mediaType),
  }));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: retype(image.manifest.config, MediaType.ociConfig),
    layers: layers.map((l) => l.descriptor),
  };
  if (image.manifest.annotations) manifest.annotations = image.manifest.annotations;
  return fromParts(manifest, encodeJson(manifest), image.config, image.configBytes, layers);
}
