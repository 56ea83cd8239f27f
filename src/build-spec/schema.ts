import { z } from 'zod';

const name = z.string().regex(/^[a-z0-9][a-z0-9+.-]*(=[^\s=]+)?$/, 'a Debian package name, optionally name=version');
const mode = z.union([z.number().int().min(0).max(0o7777), z.string().regex(/^0?[0-7]{3,4}$/, 'an octal mode such as 0755')]);
const command = z.union([z.string().min(1), z.array(z.string()).min(1)]);

/** What a Debian (or Ubuntu) image is made of: suites of an apt archive, and which packages. */
const debianContents = z
  .object({
    /** Which package ecosystem: `deb` (the default) for apt archives. */
    ecosystem: z.literal('deb').optional(),
    /** The release; its codename picks debootstrap's preset rules. */
    suite: z.string().min(1).optional(),
    /** More suites to take packages from (bookworm-updates, bookworm-security). */
    suites: z.array(z.string().min(1)).optional(),
    components: z.array(z.string().min(1)).optional(),
    preset: z.enum(['essential', 'required', 'minbase', 'none', 'busybox']).optional(),
    /** Mirror URLs (the first is used for every suite); default: the host's apt configuration. */
    repositories: z.array(z.string().url()).optional(),
    /** Keyring files the archive must be signed by. */
    keyring: z.array(z.string().min(1)).optional(),
    packages: z.array(name).optional(),
    exclude: z.array(name).optional(),
    recommends: z.boolean().optional(),
  })
  .strict();

/** What dnf accepts as a package to install: a name, NEVRA forms, a provide, a file path or a glob. */
const rpmSpec = z.string().regex(/^[^\s]+$/, 'a package as dnf takes it: a name, name-version, a provide or a file path, without spaces');

/** What an RPM-based image is made of: yum/dnf repositories, and which groups and packages. */
const rpmContents = z
  .object({
    ecosystem: z.literal('rpm'),
    /** Repository base URLs (the folder holding repodata/), as `--rpm-repo`. */
    repositories: z.array(z.string().url()).optional(),
    /** A yum.conf or dnf.conf whose repositories (and reposdir *.repo files) are used, as `mkimage-yum.sh -y`; relative to the spec. */
    'yum-conf': z.string().min(1).optional(),
    /** $releasever for the repositories' URLs. */
    releasever: z.string().min(1).optional(),
    /** OpenPGP key files the packages (and repomd.xml) of `repositories` must be signed with; relative to the spec. */
    keyring: z.array(z.string().min(1)).optional(),
    /** comps groups to install (`@core`), with dnf's default package types unless `group-types` says. */
    groups: z.array(z.string().min(1)).optional(),
    'group-types': z.array(z.enum(['mandatory', 'default', 'optional', 'conditional'])).min(1).optional(),
    packages: z.array(rpmSpec).optional(),
    exclude: z.array(rpmSpec).optional(),
    /** Install weak dependencies (Recommends, Supplements), as dnf's install_weak_deps=True. */
    'weak-deps': z.boolean().optional(),
    /** Leave out %doc files, as dnf's tsflags=nodocs. */
    nodocs: z.boolean().optional(),
    /** rpm's %_install_langs: only these languages' %lang files (e.g. [en, de]). */
    'install-langs': z.array(z.string().regex(/^[A-Za-z0-9_@.-]+$/)).min(1).optional(),
  })
  .strict();

/** The packages of the image, from one ecosystem (apko's `contents`, with `ecosystem` saying whose). */
const contents = z.discriminatedUnion('ecosystem', [debianContents, rpmContents]);

/**
 * The build spec, modelled on apko's file (contents, accounts, paths, entrypoint, cmd, environment,
 * work-dir, archs, annotations) so its users feel at home, plus what each ecosystem needs (Debian's
 * suites, components and presets; yum repositories, groups and rpm's install options). Flags given to
 * `fromscratch build` override it.
 */
export const specSchema = z
  .object({
    contents,
    accounts: z
      .object({
        groups: z.array(z.object({ groupname: z.string().regex(/^[a-z_][a-z0-9_-]*$/), gid: z.number().int().min(0) }).strict()).optional(),
        users: z
          .array(
            z
              .object({
                username: z.string().regex(/^[a-z_][a-z0-9_-]*$/),
                uid: z.number().int().min(0),
                gid: z.number().int().min(0).optional(),
                homedir: z.string().startsWith('/').optional(),
                shell: z.string().startsWith('/').optional(),
              })
              .strict(),
          )
          .optional(),
        'run-as': z.union([z.string().min(1), z.number().int().min(0)]).optional(),
      })
      .strict()
      .optional(),
    paths: z
      .array(
        z
          .object({
            path: z.string().startsWith('/'),
            type: z.enum(['directory', 'file', 'symlink', 'empty-file']),
            /** For `file`: a local file, relative to the spec; for `symlink`: the target. */
            source: z.string().optional(),
            uid: z.number().int().min(0).optional(),
            gid: z.number().int().min(0).optional(),
            permissions: mode.optional(),
          })
          .strict(),
      )
      .optional(),
    /** Files copied from other images, as a Dockerfile's `COPY --from`; laid over the system like `paths`. */
    copy: z
      .array(
        z
          .object({
            /** Any image reference fromscratch reads; relative paths are relative to the spec. */
            from: z.string().min(1),
            /** A file, folder (copied with everything below it) or symlink (followed) in that image. */
            source: z.string().startsWith('/'),
            /** Where it goes in the built image; missing parent folders are created (root, 0755). */
            path: z.string().startsWith('/'),
            /** Owner of everything copied (like `COPY --chown`); default: as in the image. */
            uid: z.number().int().min(0).optional(),
            gid: z.number().int().min(0).optional(),
            /** Mode of every file and folder copied (like `COPY --chmod`); default: as in the image. */
            permissions: mode.optional(),
          })
          .strict(),
      )
      .optional(),
    entrypoint: z.union([command, z.object({ command }).strict()]).optional(),
    cmd: command.optional(),
    environment: z.record(z.string(), z.string()).optional(),
    'work-dir': z.string().startsWith('/').optional(),
    archs: z.array(z.string().min(1)).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    /** Config labels (`docker inspect` shows them as Labels). */
    labels: z.record(z.string(), z.string()).optional(),
    /** The -slim variant: no docs (but copyright/license files), man pages, info or locales, kept out of later installs too. */
    slim: z.boolean().optional(),
    /** Run the packages' maintainer scripts or scriptlets in a user-namespace sandbox (`--scripts`) instead of reproducing their effects. */
    scripts: z.boolean().optional(),
  })
  .strict();

export type Spec = z.infer<typeof specSchema>;

/** The JSON Schema editors use for fromscratch specs (published as schema/fromscratch.schema.json). */
export function specJsonSchema(): unknown {
  return { ...z.toJSONSchema(specSchema, { target: 'draft-2020-12' }), $id: 'fromscratch.schema.json', title: 'fromscratch build spec' };
}
