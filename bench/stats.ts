/** Small statistics helpers for the benchmark scripts. */

/** The q-quantile (0..1) of `values` by nearest rank; NaN for an empty list. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

export function fmtMs(ms: number): string {
  return `${ms.toFixed(0)} ms`;
}

export function ratio(a: number, b: number): string {
  return (a / b).toFixed(3);
}
