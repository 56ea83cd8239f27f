/**
 * What a long command reports while it works: finished steps as lines, and the state of the step under
 * way (counts and bytes) as a status that a terminal display redraws in place.
 */
export interface ProgressStatus {
  /** The step under way: resolve, fetch, unpack, compress... */
  step: string;
  /** Amount done and the total, when known, in `unit`s. */
  done: number;
  total?: number;
  unit: 'bytes' | 'packages' | 'entries';
  /** A short extra, e.g. "12.3 MB downloaded". */
  detail?: string;
}

export interface ProgressSink {
  /** A finished step's line (kept on screen; printed as is when not on a terminal). */
  line(text: string): void;
  /** The step under way (shown live on a terminal; ignored otherwise). */
  status(status: ProgressStatus): void;
  /** Removes the live status, if any (before the final output). */
  end(): void;
}

/** Lines only (not a terminal, or a log file): what CI logs want. */
export function plainProgress(write: (text: string) => void): ProgressSink {
  return { line: (text) => write(`${text}\n`), status: () => {}, end: () => {} };
}

export function formatAmount(n: number, unit: ProgressStatus['unit']): string {
  return unit === 'bytes' ? `${(n / 1e6).toFixed(1)} MB` : `${n}`;
}

function formatStatus(s: ProgressStatus, width: number): string {
  const amount = s.total !== undefined ? `${formatAmount(s.done, s.unit)}/${formatAmount(s.total, s.unit)}${s.unit === 'bytes' ? '' : ` ${s.unit}`}` : `${formatAmount(s.done, s.unit)}${s.unit === 'bytes' ? '' : ` ${s.unit}`}`;
  let bar = '';
  if (s.total) {
    const cells = 20;
    const filled = Math.min(cells, Math.round((s.done / s.total) * cells));
    bar = `[${'#'.repeat(filled)}${'.'.repeat(cells - filled)}] `;
  }
  const text = `${s.step}: ${bar}${amount}${s.detail ? `, ${s.detail}` : ''}`;
  return text.length > width - 1 ? text.slice(0, width - 1) : text;
}

/**
 * A live display for a terminal: finished steps scroll by as lines and the step under way is one status
 * line at the bottom, redrawn in place (at most ten times a second).
 */
export function terminalProgress(stream: NodeJS.WriteStream): ProgressSink {
  const CLEAR = '\r\x1b[2K';
  let shown = '';
  let last: ProgressStatus | undefined;
  let drawnAt = 0;
  const draw = () => {
    if (!last) return;
    shown = formatStatus(last, stream.columns || 80);
    stream.write(`${CLEAR}${shown}`);
    drawnAt = Date.now();
  };
  return {
    line(text) {
      // A finished step's line also ends its status: the next status() draws the next step.
      stream.write(`${shown ? CLEAR : ''}${text}\n`);
      shown = '';
      last = undefined;
    },
    status(status) {
      const stepChanged = last?.step !== status.step;
      last = status;
      if (stepChanged || Date.now() - drawnAt >= 100 || (status.total !== undefined && status.done >= status.total)) draw();
    },
    end() {
      if (shown) stream.write(CLEAR);
      shown = '';
      last = undefined;
    },
  };
}
