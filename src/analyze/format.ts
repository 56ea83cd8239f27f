import { MB, type AnalyzeReport } from './analyze.js';

/** The report as text for a terminal. */
export function formatAnalyze(r: AnalyzeReport): string {
  const lines = [
    `Reference:   ${r.reference}`,
    `Digest:      ${r.digest}`,
    `Contents:    ${MB(r.totalBytes)} in ${r.layers.length} layer(s), ${MB(r.storedBytes)} stored`,
    `Wasted:      ${MB(r.wastedBytes)} (deleted or overwritten by a later layer)`,
    `Efficiency:  ${(r.efficiency * 100).toFixed(1)}%`,
    '',
    'Layer  stored      contents    added  changed  removed  created by',
  ];
  for (const l of r.layers) {
    lines.push(`${String(l.index).padStart(5)}  ${MB(l.size).padStart(10)}  ${MB(l.fileBytes).padStart(10)}  ${String(l.added).padStart(5)}  ${String(l.changed).padStart(7)}  ${String(l.removed).padStart(7)}  ${l.createdBy ?? ''}`);
  }
  if (r.waste.length) {
    lines.push('', 'Waste:');
    for (const p of r.waste) lines.push(`  ${p.advice}`);
  }
  if (r.packageManager) {
    lines.push('', `Packages (${r.packageManager}): ${r.packageCount}, ${MB(r.packages.reduce((n, p) => n + p.installedBytes, 0))} installed; largest:`);
    for (const p of [...r.packages].sort((a, b) => b.installedBytes - a.installedBytes).slice(0, 15)) {
      lines.push(`  ${MB(p.installedBytes).padStart(9)}  ${p.name} ${p.version}  (${p.why.join(' → ')})`);
    }
    for (const group of r.duplicateLibraries) lines.push(`  several versions of one library: ${group.join(', ')}`);
  }
  if (r.packageNote) lines.push('', `Packages: ${r.packageNote}`);
  if (r.warnings.length) lines.push('', ...r.warnings.map((w) => `Warning: ${w}`));
  const saved = Object.entries(r.savings).filter(([, n]) => n > 0);
  lines.push('', `Slimming would save: ${saved.length ? saved.map(([name, n]) => `${name} ${MB(n)}`).join(', ') : 'nothing'} (fromscratch slim)`);
  return lines.join('\n');
}
