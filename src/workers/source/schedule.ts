// Per-VAULT crawl schedule (the Python worker keyed it by pipeline, so a second vault on a pipeline was never
// crawled). Pure bookkeeping: the source loop feeds it vault lists, intervals and crawl outcomes.
import type { VaultDoc } from "../../model/documents.ts";
import { exponentialDelay, withJitter } from "../../util/backoff.ts";

export interface ScheduledVault {
  vault: VaultDoc;
  intervalSeconds: number;
  intervalFrom: "executor" | "default";
  /** Etag of the pipeline document the interval was read from; a change means "read it again". */
  pipelineEtag?: string;
  pipelineEnabled: boolean;
  nextRunAt: number;
  lastRunAt?: number;
  /** Consecutive failed attempts (drives the backoff). */
  failureStreak: number;
  running: boolean;
  /** The vault left the enabled set while its crawl was running: dropped when the crawl ends. */
  removed: boolean;
  lastResult?: string;
}

export interface ScheduleOptions {
  defaultIntervalSeconds: number;
  /** First retry delay after a failure; doubles per consecutive failure. */
  backoffBaseSeconds: number;
  backoffMaxSeconds: number;
  random?: () => number;
}

/** ±fraction around `ms`. */
export function jittered(ms: number, fraction: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(withJitter(ms, 1 - fraction, 2 * fraction, random)));
}

export function backoffSeconds(streak: number, base: number, max: number): number {
  return exponentialDelay(base, streak - 1, max);
}

export class VaultSchedule {
  readonly entries = new Map<string, ScheduledVault>();
  private readonly random: () => number;

  constructor(private readonly opts: ScheduleOptions) {
    this.random = opts.random ?? Math.random;
  }

  /** Adds new enabled vaults (due at once), updates changed ones, drops vaults no longer enabled. */
  sync(vaults: VaultDoc[], now: number): { added: string[]; removed: string[] } {
    const added: string[] = [];
    const removed: string[] = [];
    const seen = new Set<string>();
    for (const vault of vaults) {
      seen.add(vault.id);
      const entry = this.entries.get(vault.id);
      if (!entry) {
        this.entries.set(vault.id, {
          vault,
          intervalSeconds: this.opts.defaultIntervalSeconds,
          intervalFrom: "default",
          pipelineEnabled: true,
          nextRunAt: now,
          failureStreak: 0,
          running: false,
          removed: false,
        });
        added.push(vault.id);
        continue;
      }
      entry.removed = false;
      if (entry.vault.pipeline_id !== vault.pipeline_id) {
        // Moved to another pipeline: its interval must be read again.
        entry.pipelineEtag = undefined;
        entry.failureStreak = 0;
        entry.nextRunAt = Math.min(entry.nextRunAt, now);
      }
      entry.vault = vault;
    }
    for (const [id, entry] of this.entries) {
      if (seen.has(id)) continue;
      if (entry.running) entry.removed = true;
      else this.entries.delete(id);
      removed.push(id);
    }
    return { added, removed };
  }

  /** Pipelines whose document should be (re)read: never read, or changed since. */
  pipelineIds(): string[] {
    return [...new Set([...this.entries.values()].map((e) => e.vault.pipeline_id))];
  }

  /** A pipeline document was (re)read: new interval and enabled flag for every vault on it. */
  applyPipeline(
    pipelineId: string,
    info: { etag?: string; enabled: boolean; intervalSeconds?: number },
    now: number,
  ): void {
    for (const entry of this.entries.values()) {
      if (entry.vault.pipeline_id !== pipelineId) continue;
      entry.pipelineEtag = info.etag;
      entry.pipelineEnabled = info.enabled;
      const interval = info.intervalSeconds ?? this.opts.defaultIntervalSeconds;
      entry.intervalFrom = info.intervalSeconds ? "executor" : "default";
      if (interval !== entry.intervalSeconds) {
        entry.intervalSeconds = interval;
        if (entry.lastRunAt !== undefined && entry.failureStreak === 0) {
          entry.nextRunAt = Math.max(now, entry.lastRunAt + interval * 1000);
        }
      }
    }
  }

  /**
   * The vaults to crawl now, longest waiting first, at most one per pipeline and none of a pipeline with a crawl
   * running: crawls of one pipeline take turns (the pipeline lock a Python worker also honours allows one at a
   * time), so a vault whose sibling is crawling waits for it to finish and then goes first, instead of being refused
   * and retried on a timer that can keep meeting the sibling's next crawl.
   */
  due(now: number): ScheduledVault[] {
    const busy = new Set([...this.entries.values()].filter((e) => e.running).map((e) => e.vault.pipeline_id));
    const picked: ScheduledVault[] = [];
    const candidates = [...this.entries.values()]
      .filter((e) => !e.running && !e.removed && e.pipelineEnabled && e.nextRunAt <= now)
      .sort((a, b) => a.nextRunAt - b.nextRunAt);
    for (const entry of candidates) {
      if (busy.has(entry.vault.pipeline_id)) continue;
      busy.add(entry.vault.pipeline_id);
      picked.push(entry);
    }
    return picked;
  }

  started(id: string, now: number): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.running = true;
    entry.lastRunAt = now;
  }

  /** The crawl ran (completely or interrupted by shutdown): next one an interval later. */
  succeeded(id: string, now: number, result: string): void {
    this.finish(id, result, () => {
      const e = this.entries.get(id)!;
      e.failureStreak = 0;
      e.nextRunAt = now + e.intervalSeconds * 1000;
    });
  }

  /** Failed: retry after an exponential, jittered backoff (never the scheduler tick). */
  failed(id: string, now: number, result: string): void {
    this.finish(id, result, () => {
      const e = this.entries.get(id)!;
      e.failureStreak++;
      const seconds = backoffSeconds(e.failureStreak, this.opts.backoffBaseSeconds, this.opts.backoffMaxSeconds);
      e.nextRunAt = now + jittered(seconds * 1000, 0.2, this.random);
    });
  }

  /**
   * Someone else crawls it (lease held) or crawled it a moment ago: look again after about an interval, or at
   * `notBefore` when that is known — jittered, so workers do not retry in lockstep.
   */
  deferred(id: string, now: number, result: string, notBefore?: number): void {
    this.finish(id, result, () => {
      const e = this.entries.get(id)!;
      const base = notBefore !== undefined ? Math.max(0, notBefore - now) : e.intervalSeconds * 1000;
      e.nextRunAt = now + jittered(Math.max(base, this.opts.backoffBaseSeconds * 1000), 0.1, this.random);
    });
  }

  private finish(id: string, result: string, update: () => void): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.running = false;
    entry.lastResult = result;
    if (entry.removed) {
      this.entries.delete(id);
      return;
    }
    update();
  }
}
