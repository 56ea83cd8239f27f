import type { SourcedEntry } from '../../entries/entry-set.js';
import { fileEntry } from '../../entries/synthetic.js';
import { SLIM_CATEGORY_NAMES, slimCategory } from '../../slim/rules.js';
import type { EntryType } from '../../tar/entry.js';

/**
 * The slim variant of an RPM image: the categories Debian's -slim images and febootstrap-minimize's
 * --drop-docs/--drop-locales leave out (docs, man pages, info, locales), from `fromscratch slim`'s table.
 * rpm records the left-out files as not installed, as it does for `--excludedocs` and %_install_langs,
 * so `rpm -V` stays quiet; license files (/usr/share/licenses) are no category's and stay.
 */
const RPM_SLIM_CATEGORIES: readonly string[] = ['docs', 'man', 'info', 'locales'];
const KEPT: ReadonlySet<string> = new Set(SLIM_CATEGORY_NAMES.filter((name) => !RPM_SLIM_CATEGORIES.includes(name)));

/**
 * The indexes of a package's files (header order) slim leaves out: files of the categories, and folders of
 * the categories all of whose files below are left out (the man section folders are exceptions and stay).
 */
export function slimLeftOut(files: readonly { path: string; type: EntryType | 'socket' }[]): Set<number> {
  const out = new Set<number>();
  files.forEach((f, i) => {
    if (f.type !== 'directory' && slimCategory(f.path, KEPT, f.type === 'socket' ? undefined : f.type)) out.add(i);
  });
  files.forEach((f, i) => {
    if (f.type !== 'directory' || !slimCategory(f.path, KEPT, 'directory')) return;
    const below = files.map((g, j) => [g, j] as const).filter(([g]) => g.path.startsWith(`${f.path}/`) && g.type !== 'directory');
    if (below.every(([, j]) => out.has(j))) out.add(i);
  });
  return out;
}

/**
 * /etc/rpm/macros.image-language-conf, the file Fedora's container images carry: packages installed later
 * leave out docs (and man and info pages, which rpmbuild marks %doc) and other languages' files too.
 */
export function slimRpmMacros(mtime: number): SourcedEntry {
  const text = [
    '# Written by fromscratch (--slim): docs, man pages, info and translations were left out of this image;',
    '# these keep packages installed later from bringing them back.',
    '%_excludedocs 1',
    '%_install_langs C.utf8',
    '',
  ].join('\n');
  return { ...fileEntry('etc/rpm/macros.image-language-conf', text, { mtime }), origin: 'slim (rpm macros)' };
}
