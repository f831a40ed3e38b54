// What a worker loop gets from the process that hosts it (a supervised child or `worker --role=…` by hand).
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import type { CounterName, LabelledCounterName } from "./counters.ts";

export type WorkerRole = "processing" | "source";

/**
 * Numbers a worker reports; the supervisor sums counters per role for /metrics and shows gauges per worker
 * in /status. Counter names are listed in counters.ts.
 */
export interface WorkerReporter {
  /** The worker is connected and taking work (false while starting, reconnecting or draining). */
  setReady(ready: boolean, reason?: string): void;
  /** Tasks (processing) or crawls (source) running right now. */
  setInFlight(count: number): void;
  count(counter: CounterName | LabelledCounterName, by?: number): void;
  gauge(name: string, value: number): void;
  /** Free-form state shown in /status (e.g. current vault, lease epoch); no secrets. */
  info(key: string, value: unknown): void;
}

export interface WorkerContext {
  config: Config;
  logger: Logger;
  role: WorkerRole;
  /** 0-based index among workers of this role on this host. */
  index: number;
  /** Unique per process incarnation: `<WORKER_NAME>-<role>-<index>@<host>:<pid>:<random>`. */
  workerId: string;
  /** Aborted when the worker must stop taking new work, finish in-flight work and return. */
  drain: AbortSignal;
  report: WorkerReporter;
  /**
   * Registers a call for "tasks were just enqueued on this host" (the supervisor relays it from its source
   * workers); absent when the worker runs without a supervisor.
   */
  onWake?(listener: () => void): void;
}

/** A reporter that only keeps numbers in memory (for `--once` runs, tests and hand-started workers). */
export class MemoryReporter implements WorkerReporter {
  ready = false;
  readyReason?: string;
  inFlight = 0;
  counters: Record<string, number> = {};
  gauges: Record<string, number> = {};
  infos: Record<string, unknown> = {};
  setReady(ready: boolean, reason?: string): void {
    this.ready = ready;
    this.readyReason = reason;
  }
  setInFlight(count: number): void {
    this.inFlight = count;
  }
  count(counter: CounterName | LabelledCounterName, by = 1): void {
    this.counters[counter] = (this.counters[counter] ?? 0) + by;
  }
  gauge(name: string, value: number): void {
    this.gauges[name] = value;
  }
  info(key: string, value: unknown): void {
    this.infos[key] = value;
  }
}

/** Prometheus label values: backslash, double quote and newline escaped. */
export function labelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * A counter name with labels, e.g. `ai_tokens_total{executor_type="text_summarizer",kind="prompt"}`, for
 * WorkerReporter.count. The supervisor sums each distinct name-and-labels and /metrics adds the `role` label.
 */
export function labelledCounter(name: CounterName, labels: Record<string, string>): LabelledCounterName {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`);
  return `${name}{${parts.join(",")}}`;
}

const LABELLED = /^([a-zA-Z_][a-zA-Z0-9_]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)+)\}$/;

/** The name and the label text (inside the braces, without them) of a labelled counter; plain names have none. */
export function splitLabelledCounter(counter: string): { name: string; labels?: string } {
  const m = LABELLED.exec(counter);
  if (!m) return { name: counter };
  return { name: m[1], labels: m[2].replace(/,$/, "") };
}
