/**
 * Structured logging: one JSON object per line, one child logger per component.
 * The sink is injected so tests can capture lines; the daemon writes to stdout.
 */
export type LogLevel = "debug" | "info" | "warning" | "error";

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warning", "error"];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warning(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(component: string, fields?: LogFields): Logger;
  enabled(level: LogLevel): boolean;
}

export type LogSink = (line: string) => void;

export function createLogger(options: {
  level: LogLevel;
  sink?: LogSink;
  component?: string;
  fields?: LogFields;
  now?: () => Date;
}): Logger {
  const sink = options.sink ?? ((line: string) => process.stdout.write(line + "\n"));
  const now = options.now ?? (() => new Date());
  const min = RANK[options.level];
  const base: LogFields = { ...options.fields };
  if (options.component) base["component"] = options.component;

  const write = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[level] < min) return;
    const record: LogFields = { time: now().toISOString(), level, ...base, msg };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) record[k] = v instanceof Error ? serializeError(v) : v;
    }
    sink(JSON.stringify(record));
  };

  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warning: (m, f) => write("warning", m, f),
    error: (m, f) => write("error", m, f),
    enabled: (level) => RANK[level] >= min,
    child: (component, fields) =>
      createLogger({
        level: options.level,
        sink,
        now,
        component,
        fields: { ...options.fields, ...fields },
      }),
  };
}

function serializeError(err: Error): LogFields {
  const out: LogFields = { message: err.message };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out["code"] = code;
  return out;
}

/** A logger that drops everything; for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ level: "error", sink: () => undefined });
