// `poison requeue` as an API: every poison record is read (and claimed) first, then the ones the filter chooses are
// re-driven a few at a time (admin.requeue; redrive-task.ts has the steps). Records not chosen, not re-drivable or
// left after an error are made visible again; the rest are deleted by their re-drive.
import type { PoisonEntry } from "../queue/poison-queue.ts";
import { PoisonClaimKeeper } from "../queue/poison-claims.ts";
import { eachLimited } from "../util/each-limited.ts";
import type { LinearRegex } from "../util/linear-regex.ts";
import { describeDependencyError } from "../util/dependency-error.ts";
import type { Described, PoisonOutcome, RedriveAdmin } from "./admin.ts";

/** Which records: all filters given must match. */
export interface PoisonFilter {
  ids?: Set<string>;
  /** Matched against the record's reason. */
  reason?: LinearRegex;
  /** The task's pipeline (for a claim-check task, read from its blob). */
  pipeline?: string;
}

export interface RequeueOptions {
  dryRun: boolean;
  /** How long the records read stay invisible to others at a time (renewed while they wait). */
  claimSeconds: number;
  /** Records handled at once. */
  concurrency: number;
  /** Called as the run goes on: read so far, looked at, re-driven. */
  progress?: (p: { read: number; handled?: number; total?: number; requeued?: number }) => void;
}

/** Whether a requeue settled the record (deleted it): its task is on the queue or its execution is done. */
export function settledBy(o: PoisonOutcome): boolean {
  return o.result === "requeued" || o.result === "finished-earlier-requeue" || o.result === "already-completed";
}

/** One record: undefined when the filter does not choose it; never throws (an error is a "skipped" outcome). */
async function requeueChosen(
  admin: RedriveAdmin,
  entry: PoisonEntry,
  filter: PoisonFilter,
  dryRun: boolean,
): Promise<PoisonOutcome | undefined> {
  if (filter.ids && !filter.ids.has(entry.id)) return undefined;
  let d: Described | undefined;
  try {
    d = await admin.describe(entry);
    if (filter.pipeline) d = await admin.withClaimCheckIds(d);
    const reason = entry.record?.reason ?? entry.unreadable ?? "";
    if (
      (filter.reason && !filter.reason.test(reason)) || (filter.pipeline && d.original?.pipelineId !== filter.pipeline)
    ) {
      return undefined;
    }
    return await admin.requeue(d, { dryRun });
  } catch (err) {
    const executionId = d?.original?.executionId ?? entry.record?.execution_id ?? null;
    return { id: entry.id, execution_id: executionId, result: "skipped", detail: describeDependencyError(err).text };
  }
}

/** Re-drives the chosen poison records; the outcomes of the chosen ones, in the order the records were read. */
export async function requeuePoison(
  admin: RedriveAdmin,
  filter: PoisonFilter,
  opts: RequeueOptions,
): Promise<PoisonOutcome[]> {
  const claims = new PoisonClaimKeeper(admin.poison, { claimSeconds: opts.claimSeconds });
  const entries: PoisonEntry[] = [];
  const settled = new Set<string>();
  const released = new Set<string>();
  const results: Array<PoisonOutcome | undefined> = [];
  try {
    // Every record is read (and claimed) before any is handled: see queue/poison-claims.ts for why.
    const onPage = (page: PoisonEntry[]) => {
      claims.keep(page);
      entries.push(...page);
      opts.progress?.({ read: entries.length });
    };
    await admin.poison.scan({ claimSeconds: opts.claimSeconds, onPage });
    let handled = 0;
    let requeued = 0;
    await eachLimited(entries, opts.concurrency, async (entry, index) => {
      await claims.take(entry);
      const outcome = await requeueChosen(admin, entry, filter, opts.dryRun);
      if (outcome) results[index] = outcome;
      if (outcome && settledBy(outcome)) {
        settled.add(entry.id);
        requeued++;
      } else if (await admin.poison.release([entry]) === 0) {
        // Not chosen, a dry run or not handled: visible again at once (the read is over, so it is not read twice).
        released.add(entry.id);
      }
      handled++;
      opts.progress?.({ read: entries.length, handled, total: entries.length, requeued });
    });
  } finally {
    await claims.stop();
    // Whatever was neither settled nor released yet (left after an error) is visible again at once.
    await admin.poison.release(entries.filter((e) => !settled.has(e.id) && !released.has(e.id)));
  }
  return results.filter((o): o is PoisonOutcome => o !== undefined);
}
