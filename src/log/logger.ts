// Structured JSON logs: one object per line on stdout (and optionally appended to a file).
import process from "node:process";
import { appendFileSync } from "node:fs";
import { redactText } from "../util/redact.ts";

export { registerSecret } from "../util/redact.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Accepts the Python worker's names too (DEBUG, INFO, WARNING, ERROR, CRITICAL). */
export function parseLogLevel(value: string): LogLevel | undefined {
  const v = value.trim().toLowerCase();
  if (v === "debug") return "debug";
  if (v === "info") return "info";
  if (v === "warn" || v === "warning") return "warn";
  if (v === "error" || v === "critical" || v === "fatal") return "error";
  return undefined;
}

export type LogFields = Record<string, unknown>;

interface Sink {
  level: LogLevel;
  file?: string;
  write: (line: string) => void;
}

const sink: Sink = {
  level: "info",
  write: (line) => process.stdout.write(line + "\n"),
};

export function configureLogging(opts: { level?: LogLevel; file?: string; write?: (line: string) => void }): void {
  if (opts.level) sink.level = opts.level;
  sink.file = opts.file || undefined;
  if (opts.write) sink.write = opts.write;
}

export function logLevelEnabled(level: LogLevel): boolean {
  return ORDER[level] >= ORDER[sink.level];
}

function errorFields(err: unknown): LogFields {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; statusCode?: unknown };
    const out: LogFields = { error: e.message, error_type: e.name };
    if (e.code !== undefined) out.error_code = e.code;
    if (e.statusCode !== undefined) out.status_code = e.statusCode;
    return out;
  }
  return { error: String(err) };
}

export class Logger {
  constructor(private readonly base: LogFields = {}) {}

  child(fields: LogFields): Logger {
    return new Logger({ ...this.base, ...fields });
  }

  debug(msg: string, fields?: LogFields): void {
    this.emit("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.emit("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.emit("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.emit("error", msg, fields);
  }

  private emit(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!logLevelEnabled(level)) return;
    const record: LogFields = { time: new Date().toISOString(), level, ...this.base, pid: process.pid, msg };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined) continue;
        if (k === "err") Object.assign(record, errorFields(v));
        else record[k] = v;
      }
    }
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({ time: record.time, level, ...this.base, pid: process.pid, msg });
    }
    writeLine(line);
  }
}

type LineListener = (line: string) => void;
const lineListeners: LineListener[] = [];

/**
 * Calls `listener` with every line written, after redaction (what stdout gets): the telemetry exports log records
 * from here. A listener that throws is ignored. Returns the unsubscribe function.
 */
export function onLogLine(listener: LineListener): () => void {
  lineListeners.push(listener);
  return () => {
    const i = lineListeners.indexOf(listener);
    if (i >= 0) lineListeners.splice(i, 1);
  };
}

/**
 * Writes an already-formatted JSON line (also used by the supervisor to forward children's logs and stderr), with
 * secrets redacted: registered values and secret-shaped fragments (src/util/redact.ts).
 */
export function writeLine(raw: string): void {
  const line = redactText(raw);
  sink.write(line);
  for (const listener of lineListeners) {
    try {
      listener(line);
    } catch {
      // Telemetry must never break logging.
    }
  }
  if (sink.file) {
    try {
      appendFileSync(sink.file, line + "\n");
    } catch {
      // A broken log file must not take the worker down; stdout still has the line.
    }
  }
}

export const rootLogger = new Logger();
