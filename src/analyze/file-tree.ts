import type { ImageFilesystem } from '../image/filesystem.js';

/** The final filesystem as a tree of sizes: what the HTML report draws as a treemap. */
export interface FileTreeNode {
  name: string;
  /** Bytes of file content at and below this node (a hardlinked file counts at its first name only). */
  size: number;
  /** Files: the layer whose bytes the final filesystem shows. */
  layer?: number;
  /** Files: the package that installed it, when the image's package database says so. */
  package?: string;
  children?: FileTreeNode[];
}

/**
 * Builds the tree from the merged view. `owners` maps a path to its package; package databases list the
 * paths packages were installed under (/bin/ls on a merged-/usr system, where the file is usr/bin/ls),
 * so both the name and its real location are looked up.
 */
export function fileTree(view: ImageFilesystem, owners: ReadonlyMap<string, string>): FileTreeNode {
  const byRealPath = new Map<string, string>();
  for (const [path, pkg] of owners) {
    const slash = path.lastIndexOf('/');
    const parent = slash === -1 ? '' : view.resolve(path.slice(0, slash), true);
    if (parent !== undefined) byRealPath.set(parent ? `${parent}/${path.slice(slash + 1)}` : path.slice(slash + 1), pkg);
  }
  const root: FileTreeNode = { name: '/', size: 0, children: [] };
  const dirs = new Map<string, FileTreeNode>([['', root]]);
  for (const e of view.walk()) {
    const slash = e.path.lastIndexOf('/');
    const parent = dirs.get(slash === -1 ? '' : e.path.slice(0, slash));
    if (!parent) continue;
    const node: FileTreeNode = { name: e.path.slice(slash + 1), size: e.type === 'file' ? e.size : 0 };
    if (e.type === 'directory') {
      node.children = [];
      dirs.set(e.path, node);
    } else {
      node.layer = e.content?.layer ?? e.layer;
      const pkg = owners.get(e.path) ?? byRealPath.get(e.path);
      if (pkg !== undefined) node.package = pkg;
    }
    parent.children!.push(node);
  }
  const total = (node: FileTreeNode): number => {
    if (node.children) node.size = node.children.reduce((n, c) => n + total(c), 0);
    return node.size;
  };
  total(root);
  return root;
}
