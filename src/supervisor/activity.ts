// What the status page shows over time: task counters sampled every few seconds (tasks/s over the last minutes) and
// the most recent failures the workers logged, with their reasons. Both bounded: a fixed number of samples and of
// failures, whatever the load.
import type { WorkerRole } from "../model/worker-context.ts";

export interface CounterPoint {
  at: number;
  processed: number;
  failed: number;
  poisoned: number;
}

export interface RecentFailure {
  time: string;
  role: string;
  index: number | null;
  message: string;
  reason: string | null;
  task_id: string | null;
  execution_id: string | null;
  pipeline_id: string | null;
}

/** Log messages of workers that report a failed task, a retry or a poisoned message. */
const FAILURE_MESSAGE = /fail|poison|timed out|could not|unreachable|interrupted/i;

export class Activity {
  private readonly points: CounterPoint[] = [];
  private readonly failures: RecentFailure[] = [];

  constructor(readonly opts: { maxPoints: number; maxFailures: number } = { maxPoints: 180, maxFailures: 20 }) {}

  /** Adds a sample of the processing role's counters (summed over its workers). */
  sample(totals: Record<WorkerRole, Record<string, number>>, at = Date.now()): void {
    const p = totals.processing ?? {};
    this.points.push({
      at,
      processed: p.tasks_processed_total ?? 0,
      failed: p.tasks_failed_total ?? 0,
      poisoned: p.tasks_poisoned_total ?? 0,
    });
    if (this.points.length > this.opts.maxPoints) this.points.splice(0, this.points.length - this.opts.maxPoints);
  }

  history(): readonly CounterPoint[] {
    return this.points;
  }

  /**
   * Looks at one forwarded worker log line (JSON). Only warnings and errors about tasks are kept; the cheap text
   * test comes first so that ordinary lines are not parsed.
   */
  observeLog(line: string): void {
    if (!line.includes('"level":"warn') && !line.includes('"level":"error')) return;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line);
    } catch {
      return;
    }
    const message = typeof entry.msg === "string" ? entry.msg : "";
    if (!FAILURE_MESSAGE.test(message)) return;
    const text = (key: string) => (typeof entry[key] === "string" ? entry[key] as string : null);
    this.failures.push({
      time: text("time") ?? new Date().toISOString(),
      role: text("role") ?? "",
      index: typeof entry.index === "number" ? entry.index : null,
      message,
      reason: text("reason") ?? text("error") ??
        (typeof entry.err === "object" && entry.err !== null
          ? String((entry.err as Record<string, unknown>).message ?? "")
          : text("err")),
      task_id: text("task_id"),
      execution_id: text("execution_id"),
      pipeline_id: text("pipeline_id"),
    });
    if (this.failures.length > this.opts.maxFailures) this.failures.shift();
  }

  /** Newest first. */
  recentFailures(): RecentFailure[] {
    return [...this.failures].reverse();
  }
}

/** Tasks per second between consecutive samples (processed and failed), oldest first. */
export function ratesPerSecond(
  points: readonly CounterPoint[],
): Array<{ at: number; processed: number; failed: number }> {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const seconds = (points[i].at - points[i - 1].at) / 1000;
    if (seconds <= 0) continue;
    // A counter never goes backwards (the supervisor keeps retired workers' counts); clamp anyway.
    out.push({
      at: points[i].at,
      processed: Math.max(0, points[i].processed - points[i - 1].processed) / seconds,
      failed: Math.max(0, points[i].failed - points[i - 1].failed) / seconds,
    });
  }
  return out;
}
