import { posix } from 'node:path';
import { UserError } from '../../errors.js';
import { loadTokens, type SourceFile, type SourceKind } from '../../x509/trust-store.js';
import { edk2Cacerts, enumerate, javaCacerts, opensslBundle, pemBundle, type Extracted } from '../../x509/trust-extract.js';
import type { EffectContext } from './context.js';

/**
 * The trust paths of Red Hat's p11-kit build (`--with-trust-paths`), one token each, in this order:
 * the administrator's sources first, then the packaged ones.
 */
export const TRUST_PATHS = ['etc/pki/ca-trust/source', 'usr/share/pki/ca-trust-source'];
export const EXTRACTED = 'etc/pki/ca-trust/extracted';

const LEGACY_CONF = 'etc/pki/ca-trust/ca-legacy.conf';
const LEGACY_LINK = 'etc/pki/ca-trust/source/ca-bundle.legacy.crt';
const LEGACY_DEFAULT = '/usr/share/pki/ca-trust-legacy/ca-bundle.legacy.default.crt';
const LEGACY_DISABLE = '/usr/share/pki/ca-trust-legacy/ca-bundle.legacy.disable.crt';

export interface CaTrustResult {
  /** The certificates of each extracted bundle, by file (relative to the image root). */
  files: Map<string, number>;
}

/**
 * What ca-certificates' %post and %posttrans leave in an RPM-based image (they run
 * `ca-legacy install` then `update-ca-trust`):
 *
 * - `ca-legacy install`: /etc/pki/ca-trust/source/ca-bundle.legacy.crt, a link to the legacy bundle
 *   ca-legacy.conf chooses (`legacy=disable`, any case, picks the .disable.crt; anything else the
 *   .default.crt), unless something is at that path already (`ln -s` does not overwrite);
 * - `update-ca-trust` (the ca-certificates 2020.2.50 / 2021.2 script of CentOS Stream 9 and RHEL 9.0,
 *   which has no pem/directory-hash): p11-kit's `trust extract … --overwrite` into
 *   /etc/pki/ca-trust/extracted of `openssl/ca-bundle.trust.crt` (openssl-bundle, every certificate,
 *   --comment), `pem/tls-ca-bundle.pem`, `pem/email-ca-bundle.pem`, `pem/objsign-ca-bundle.pem`
 *   (pem-bundle, anchors for server-auth, email, code-signing, --comment), `java/cacerts`
 *   (java-cacerts, anchors for server-auth) and `edk2/cacerts.bin` (edk2-cacerts, anchors for
 *   server-auth), each mode 0444 as p11-kit leaves them.
 *
 * The sources are read as p11-kit's trust module reads them (see x509/trust-store.ts). Two
 * differences from running the scripts, both for reproducibility: files of one folder are read in
 * byte order of their names (p11-kit takes them in the order the file system lists them, which
 * decides the order of certificates in the bundles); and the Java keystore's entry dates are the
 * build time (`ctx.epoch`), which is what p11-kit writes under SOURCE_DATE_EPOCH (without it, the
 * time the script runs).
 */
export async function updateCaTrust(ctx: EffectContext): Promise<CaTrustResult | undefined> {
  if (!ctx.has('ca-certificates')) return undefined;
  const origin = 'ca-certificates %post (ca-legacy install, update-ca-trust)';
  await caLegacyInstall(ctx, origin);

  const notes: string[] = [];
  const tokens = await Promise.all(TRUST_PATHS.map((path) => tokenFiles(ctx, path)));
  const objects = loadTokens(tokens, notes);
  const anchors = (purpose: 'server-auth' | 'email' | 'code-signing') => enumerate(objects, 'ca-anchors', purpose, notes);
  const all = enumerate(objects, 'certificates', undefined, notes);
  const tls = anchors('server-auth');
  const outputs: [string, Buffer, Extracted[]][] = [
    ['openssl/ca-bundle.trust.crt', opensslBundle(all, notes), all],
    ['pem/tls-ca-bundle.pem', pemBundle(tls), tls],
    ...(['email', 'code-signing'] as const).map((p): [string, Buffer, Extracted[]] => {
      const list = anchors(p);
      return [`pem/${p === 'email' ? 'email' : 'objsign'}-ca-bundle.pem`, pemBundle(list), list];
    }),
    ['java/cacerts', javaCacerts(tls, ctx.epoch), tls],
    ['edk2/cacerts.bin', edk2Cacerts(tls), tls],
  ];
  const files = new Map<string, number>();
  for (const [name, content, list] of outputs) {
    const path = `${EXTRACTED}/${name}`;
    ensureDir(ctx, posix.dirname(path), origin);
    ctx.file(path, content, origin, 0o444);
    files.set(path, list.length);
  }
  const count = (name: string) => files.get(`${EXTRACTED}/${name}`) ?? 0;
  ctx.notes.push(
    `update-ca-trust: ${tls.length} anchors for TLS, ${count('pem/email-ca-bundle.pem')} for email, `
      + `${count('pem/objsign-ca-bundle.pem')} for code signing; ${all.length} certificates in the OpenSSL bundle; `
      + `Java keystore entries dated ${new Date(ctx.epoch * 1000).toISOString()} (the build time)`,
  );
  if (ctx.entry(`${EXTRACTED}/pem/directory-hash`)?.type === 'directory') {
    // Later ca-certificates (2022 on) also extract a hashed folder whose files their update-ca-trust
    // versions lay out differently; it is not reproduced.
    ctx.notes.push(`update-ca-trust: /${EXTRACTED}/pem/directory-hash (newer ca-certificates) is left empty`);
  }
  // each enumeration reports the same damaged source again: once is enough
  for (const note of new Set(notes)) ctx.notes.push(`update-ca-trust: ${note}`);
  return { files };
}

/** `ca-legacy install`: links the legacy bundle ca-legacy.conf selects, if nothing is there yet. */
async function caLegacyInstall(ctx: EffectContext, origin: string): Promise<void> {
  if (ctx.entry(LEGACY_LINK)) return;
  const conf = ctx.exists(LEGACY_CONF) ? (await ctx.readThrough(LEGACY_CONF))?.toString('latin1') ?? '' : '';
  const disabled = conf.split('\n').some((line) => /^legacy *= *disable *$/i.test(line));
  ctx.symlink(ctx.locatePath(LEGACY_LINK), disabled ? LEGACY_DISABLE : LEGACY_DEFAULT, origin);
  ctx.notes.push(`ca-legacy install: ${LEGACY_LINK} -> ${disabled ? LEGACY_DISABLE : LEGACY_DEFAULT}`);
}

/**
 * A token's files in load order: those directly in its folder, then in anchors/, then in blocklist/;
 * each folder's files in byte order of their names. Links are followed (p11-kit stats each path);
 * folders and links leading nowhere are passed over.
 */
async function tokenFiles(ctx: EffectContext, path: string): Promise<SourceFile[]> {
  const root = ctx.locatePath(path);
  const entries = ctx.result();
  const files: SourceFile[] = [];
  const folders: [string, SourceKind][] = [[root, 'plain'], [`${root}/anchors`, 'anchor'], [`${root}/blocklist`, 'blocklist']];
  for (const [folder, kind] of folders) {
    const names = entries
      .filter((e) => posix.dirname(e.path) === folder && e.type !== 'directory')
      .map((e) => e.path)
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      let content: Buffer | undefined;
      try {
        content = await ctx.readThrough(name);
      } catch (e) {
        throw new UserError(`update-ca-trust: cannot read /${name}: ${(e as Error).message}`, { cause: e });
      }
      if (content) files.push({ path: `/${name}`, kind, content });
    }
  }
  return files;
}

function ensureDir(ctx: EffectContext, dir: string, origin: string): void {
  if (ctx.entry(dir)?.type === 'directory') return;
  const parent = posix.dirname(dir);
  if (parent !== '.' && parent !== dir) ensureDir(ctx, parent, origin);
  ctx.dir(dir, origin);
}
