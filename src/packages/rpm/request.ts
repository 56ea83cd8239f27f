/** The kinds of a comps group's package list (comps.dtd's packagereq types). */
export type GroupPackageType = 'mandatory' | 'default' | 'optional' | 'conditional';

/** What an RPM build asks for: the repositories to read, and which groups and packages to install how. */
export interface RpmRequest {
  /** Repository base URLs (`--rpm-repo`): the folders holding repodata/. */
  repositories: string[];
  /** A yum.conf / dnf.conf whose enabled repositories are read too (`--yum-conf`, as mkimage-yum.sh -y). */
  yumConf?: string;
  /** $releasever for the repositories' URLs (`--releasever`). */
  releasever?: string;
  /** OpenPGP key files for the `repositories`: with keys, repomd.xml and every package must be signed by them. */
  keys?: string[];
  /** comps group ids (`--group core`). */
  groups: string[];
  /** The group package types to take; default dnf's: mandatory, default, conditional. */
  groupTypes?: GroupPackageType[];
  /** Packages as dnf takes them: names, name-version forms, provides, file paths. */
  include: string[];
  exclude: string[];
  /** Follow Recommends and Supplements (`--weak-deps`); off by default, as container images are built. */
  weakDeps: boolean;
  /** Leave out %doc files (`--nodocs`, tsflags=nodocs). */
  nodocs: boolean;
  /** rpm's %_install_langs; default all. */
  installLangs?: string[];
  /** Leave out docs (but licenses), man pages, info and locales, and keep them out of later installs. */
  slim: boolean;
  /** Run the real scriptlets (rpm in the user-namespace sandbox) instead of reproducing their effects. */
  scripts: boolean;
}
