import { z } from 'zod';
import type { Digest } from '../digest.js';
import { UserError } from '../errors.js';
import { digestSchema } from './descriptor.js';

/** One line of an image's history: what made a layer (or an empty step such as ENV). */
export interface History {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The execution parameters of an image (`config` in the OCI image config). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

/** The OCI image configuration: platform, execution config, rootfs diff IDs and history. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: History[];
}

const historySchema = z.object({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});

// Configs in the wild carry many more fields (container_config, docker_version...): keep them (loose).
const configSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  config: z.looseObject({}).nullable().optional(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digestSchema) }),
  history: z.array(historySchema).optional(),
});

export function parseImageConfig(bytes: Uint8Array, where: string): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new UserError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  const result = configSchema.safeParse(doc);
  if (!result.success) {
    const why = result.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new UserError(`${where}: not an image config: ${why}`);
  }
  const cfg = result.data as ImageConfig & { config?: ContainerConfig | null };
  if (cfg.config === null) delete cfg.config;
  return cfg;
}

/** The history entries that stand for layers, in layer order (entries marked empty_layer are skipped). */
export function layerHistory(config: ImageConfig): (History | undefined)[] {
  const out: (History | undefined)[] = [];
  for (const h of config.history ?? []) if (!h.empty_layer) out.push(h);
  return config.rootfs.diff_ids.map((_, i) => out[i]);
}
