const gc = (globalThis as { gc?: () => void }).gc;

/**
 * A full collection, when node runs with --expose-gc (bin/fromscratch does). V8 lets short-lived
 * garbage pile up in the old generation for long stretches; collecting between phases keeps the peak
 * memory of large images low.
 */
export function collectGarbage(): void {
  gc?.();
}
