/**
 * A small Prometheus registry: counters, gauges (set, or computed by a callback at scrape time) and
 * histograms, each with a fixed list of label names. Pure and synchronous: no clock, no I/O; the
 * status server calls `expose()` per scrape.
 *
 * Series of a family are output sorted by their label values, so a scrape is deterministic.
 */
import { WeaveError } from "../core/index.js";
import { formatExposition, type MetricFamily, type Sample } from "./exposition.js";

export type Labels = Readonly<Record<string, string>>;

export interface MetricSpec {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total` by convention. */
  name: string;
  help: string;
  /** Label names, in output order; none by default. */
  labelNames?: readonly string[];
}

export interface HistogramSpec extends MetricSpec {
  /** Upper bounds, strictly increasing and finite; `+Inf` is added. Default DEFAULT_BUCKETS. */
  buckets?: readonly number[];
}

/** A value of a gauge callback. */
export interface GaugeValue {
  labels?: Labels;
  value: number;
}

export interface GaugeCallbackSpec extends MetricSpec {
  /** Called at each scrape; series it returns with the same labels are added up. */
  collect: () => Iterable<GaugeValue>;
}

/** Prometheus client libraries' default buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function internal(message: string): WeaveError {
  return new WeaveError("WEAVE_INTERNAL", message);
}

interface Collector {
  readonly name: string;
  collect(): MetricFamily;
}

/** Checks a label set against the label names; returns the values in label-name order. */
function labelValues(metric: string, names: readonly string[], labels: Labels): string[] {
  const keys = Object.keys(labels);
  if (keys.length !== names.length || !names.every((n) => Object.hasOwn(labels, n))) {
    throw internal(
      `Metric "${metric}" takes the labels [${names.join(", ")}], got [${keys.sort().join(", ")}]`,
    );
  }
  return names.map((n) => labels[n] ?? "");
}

/** Series of one family keyed by their label values. */
class SeriesMap<T> {
  private readonly map = new Map<string, { values: string[]; data: T }>();

  constructor(
    private readonly metric: string,
    readonly labelNames: readonly string[],
    private readonly init: () => T,
  ) {}

  get(labels: Labels): T {
    const values = labelValues(this.metric, this.labelNames, labels);
    const key = JSON.stringify(values);
    let entry = this.map.get(key);
    if (!entry) {
      entry = { values, data: this.init() };
      this.map.set(key, entry);
    }
    return entry.data;
  }

  /** Entries sorted by label values. */
  sorted(): { pairs: [string, string][]; data: T }[] {
    return [...this.map.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, e]) => ({
        pairs: this.labelNames.map((n, i): [string, string] => [n, e.values[i] ?? ""]),
        data: e.data,
      }));
  }
}

/** The family of a counter or gauge: one sample per series, sorted by label values. */
function valueFamily(
  spec: MetricSpec,
  type: "counter" | "gauge",
  series: SeriesMap<{ value: number }>,
): MetricFamily {
  return {
    name: spec.name,
    help: spec.help,
    type,
    samples: series.sorted().map((s) => ({ name: spec.name, labels: s.pairs, value: s.data.value })),
  };
}

/** A metric with one number per series (Counter, Gauge); without labels its one series exists at once. */
abstract class ValueMetric implements Collector {
  protected readonly series: SeriesMap<{ value: number }>;

  constructor(
    protected readonly spec: MetricSpec,
    private readonly type: "counter" | "gauge",
  ) {
    this.series = new SeriesMap(spec.name, spec.labelNames ?? [], () => ({ value: 0 }));
    if (this.series.labelNames.length === 0) this.series.get({});
  }

  get name(): string {
    return this.spec.name;
  }

  collect(): MetricFamily {
    return valueFamily(this.spec, this.type, this.series);
  }
}

/** A monotonically increasing count. */
export class Counter extends ValueMetric {
  constructor(spec: MetricSpec) {
    super(spec, "counter");
  }

  /** Adds `by` (default 1, must be >= 0) to the series of `labels`. */
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw internal(`Counter "${this.spec.name}" cannot be increased by ${by}`);
    this.series.get(labels).value += by;
  }
}

/** A value that goes up and down. */
export class Gauge extends ValueMetric {
  constructor(spec: MetricSpec) {
    super(spec, "gauge");
  }

  set(labels: Labels, value: number): void {
    this.series.get(labels).value = value;
  }

  inc(labels: Labels = {}, by = 1): void {
    this.series.get(labels).value += by;
  }

  dec(labels: Labels = {}, by = 1): void {
    this.series.get(labels).value -= by;
  }
}

/** A gauge whose series are computed by a callback at each scrape. */
class GaugeCallback implements Collector {
  constructor(private readonly spec: GaugeCallbackSpec) {}

  get name(): string {
    return this.spec.name;
  }

  collect(): MetricFamily {
    const series = new SeriesMap(this.spec.name, this.spec.labelNames ?? [], () => ({ value: 0 }));
    for (const v of this.spec.collect()) series.get(v.labels ?? {}).value += v.value;
    return valueFamily(this.spec, "gauge", series);
  }
}

/** Observations counted in buckets (`_bucket{le=...}`, cumulative), with `_sum` and `_count`. */
export class Histogram implements Collector {
  readonly buckets: readonly number[];
  private readonly series: SeriesMap<{ counts: number[]; sum: number; count: number }>;

  constructor(private readonly spec: HistogramSpec) {
    const buckets = spec.buckets ?? DEFAULT_BUCKETS;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i] ?? NaN;
      if (!Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] ?? -Infinity))) {
        throw internal(`Histogram "${spec.name}" needs finite, strictly increasing buckets`);
      }
    }
    this.buckets = [...buckets];
    const labelNames = spec.labelNames ?? [];
    if (labelNames.includes("le")) throw internal(`Histogram "${spec.name}" cannot have a label "le"`);
    this.series = new SeriesMap(spec.name, labelNames, () => ({
      counts: new Array<number>(this.buckets.length).fill(0),
      sum: 0,
      count: 0,
    }));
    if (labelNames.length === 0) this.series.get({});
  }

  get name(): string {
    return this.spec.name;
  }

  /** Records one observation (e.g. a duration in seconds). */
  observe(labels: Labels, value: number): void {
    const s = this.series.get(labels);
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count += 1;
  }

  collect(): MetricFamily {
    const name = this.spec.name;
    const samples: Sample[] = [];
    for (const { pairs, data } of this.series.sorted()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += data.counts[i] ?? 0;
        samples.push({
          name: `${name}_bucket`,
          labels: [...pairs, ["le", String(bound)]],
          value: cumulative,
        });
      });
      samples.push({ name: `${name}_bucket`, labels: [...pairs, ["le", "+Inf"]], value: data.count });
      samples.push({ name: `${name}_sum`, labels: pairs, value: data.sum });
      samples.push({ name: `${name}_count`, labels: pairs, value: data.count });
    }
    return { name, help: this.spec.help, type: "histogram", samples };
  }
}

/** The metrics of one process, exposed in registration order. */
export class Registry {
  private readonly collectors: Collector[] = [];

  counter(spec: MetricSpec): Counter {
    return this.add(new Counter(this.check(spec)));
  }

  gauge(spec: MetricSpec): Gauge {
    return this.add(new Gauge(this.check(spec)));
  }

  /** A gauge computed at scrape time; `collect` must be fast and must not block. */
  gaugeCallback(spec: GaugeCallbackSpec): void {
    this.add(new GaugeCallback(this.check(spec)));
  }

  histogram(spec: HistogramSpec): Histogram {
    return this.add(new Histogram(this.check(spec)));
  }

  /** Every family with its current samples (gauge callbacks are called now). */
  collect(): MetricFamily[] {
    return this.collectors.map((c) => c.collect());
  }

  /** The exposition text (format 0.0.4) of every family. Throws what a gauge callback throws. */
  expose(): string {
    return formatExposition(this.collect());
  }

  private check<T extends MetricSpec>(spec: T): T {
    if (!METRIC_NAME.test(spec.name)) throw internal(`Invalid metric name "${spec.name}"`);
    if (this.collectors.some((c) => c.name === spec.name))
      throw internal(`Metric "${spec.name}" is already registered`);
    const names = spec.labelNames ?? [];
    for (const n of names) {
      if (!LABEL_NAME.test(n) || n.startsWith("__"))
        throw internal(`Invalid label name "${n}" of "${spec.name}"`);
    }
    if (new Set(names).size !== names.length) throw internal(`Duplicate label name in "${spec.name}"`);
    return spec;
  }

  private add<T extends Collector>(c: T): T {
    this.collectors.push(c);
    return c;
  }
}
