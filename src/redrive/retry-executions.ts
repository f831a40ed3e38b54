// `executions retry` as an API: failed executions sent back to the task queue from the best copy of their task. A
// task still in the poison queue is re-driven from its poison record (the original message, as `poison requeue`
// does); otherwise it is rebuilt from the execution record, which keeps only the items' identifiers, so only for
// pipelines that read the content themselves. Every re-drive goes through redriveTask (redrive-task.ts).
import type { ExecutionDoc } from "../model/documents.ts";
import { PoisonClaimKeeper } from "../queue/poison-claims.ts";
import { readExecution } from "../store/execution-records.ts";
import { readPipelineDoc } from "../store/pipelines.ts";
import { currentRedrive } from "../store/redrive.ts";
import { parsePipelineYaml } from "../pipeline/index.ts";
import type { Described, RedriveAdmin } from "./admin.ts";
import { describeDependencyError } from "../util/dependency-error.ts";

/** Executors that read an item's content from storage by its identifier: a task rebuilt from ids works with them. */
export const CONTENT_READERS = new Set(["content_retriever", "azure_blob_content_retriever"]);

/** How long the poison records are claimed at a time while the command runs (renewed while they wait). */
const POISON_CLAIM_SECONDS = 120;

export interface RetryOutcome {
  execution_id: string;
  result:
    | "requeued-from-poison"
    | "rebuilt-from-record"
    | "would-requeue-from-poison"
    | "would-rebuild-from-record"
    | "already-queued"
    | "already-completed"
    | "not-retryable";
  detail?: string;
}

/** Which executions: these ids, or the failed ones of a pipeline (created at or after `since`, ISO time). */
export type RetrySelection = { ids: string[] } | { pipeline: string; since?: string };

/** Whether the pipeline reads its items' content by identifier, so a task rebuilt from ids can run; else why not. */
async function pipelineReadsContent(
  pipelines: Parameters<typeof readPipelineDoc>[0],
  pipelineId: string,
  inputExecutor: string | null,
): Promise<true | string> {
  const read = await readPipelineDoc(pipelines, pipelineId, AbortSignal.timeout(30_000));
  if (read.kind === "not-found") return `pipeline ${pipelineId} no longer exists`;
  if (read.kind === "malformed") return `pipeline ${pipelineId} is malformed: ${read.problem}`;
  let executors;
  try {
    executors = parsePipelineYaml(read.doc.yaml).executors;
  } catch (err) {
    return `pipeline ${pipelineId} does not parse: ${(err as Error).message}`;
  }
  if (executors.some((e) => CONTENT_READERS.has(e.type) && e.id !== inputExecutor)) return true;
  return `the record keeps only the items' identifiers, not their data, and pipeline ${pipelineId} does not read ` +
    `the content itself (no ${[...CONTENT_READERS].join("/")} step); re-send it from its source (the source worker ` +
    `or 'contentflow-worker enqueue')`;
}

/**
 * Retries the selected executions, one at a time, and says what became of each (never throws for one execution's
 * fault). The poison records are claimed for the whole run; those not re-driven are made visible again at the end.
 */
export async function retryExecutions(
  admin: RedriveAdmin,
  selection: RetrySelection,
  opts: { dryRun: boolean },
): Promise<RetryOutcome[]> {
  const outcomes: RetryOutcome[] = [];
  const claims = new PoisonClaimKeeper(admin.poison, { claimSeconds: POISON_CLAIM_SECONDS });
  const poisonEntries = await admin.poison.scan({ claimSeconds: POISON_CLAIM_SECONDS, onPage: claims.keep });
  const settled = new Set<string>();
  try {
    const store = await admin.cosmos();
    const byExecution = new Map<string, Described>();
    for (const entry of poisonEntries) {
      const d = await admin.describe(entry);
      const id = d.original?.executionId ?? entry.record?.execution_id;
      if (id && !byExecution.has(id)) byExecution.set(id, d);
    }
    const docs: Array<{ id: string; doc?: ExecutionDoc }> = [];
    if ("ids" in selection) {
      for (const id of selection.ids) docs.push({ id, doc: await readExecution(store.executions, id) });
    } else {
      const { since } = selection;
      const { resources } = await store.executions.items.query<ExecutionDoc>({
        query: `SELECT * FROM c WHERE c.status = 'failed' AND c.pipeline_id = @p${
          since ? " AND c.created_at >= @since" : ""
        }`,
        parameters: [{ name: "@p", value: selection.pipeline }, ...(since ? [{ name: "@since", value: since }] : [])],
      }).fetchAll();
      for (const doc of resources) docs.push({ id: doc.id, doc });
    }
    const ctx = { admin, byExecution, claims, settled, dryRun: opts.dryRun };
    for (const { id, doc } of docs) {
      try {
        outcomes.push(await retryOne(id, doc, ctx));
      } catch (err) {
        outcomes.push({ execution_id: id, result: "not-retryable", detail: describeDependencyError(err).text });
      }
    }
  } finally {
    await claims.stop();
    await admin.poison.release(poisonEntries.filter((e) => !settled.has(e.id)));
  }
  return outcomes;
}

async function retryOne(
  id: string,
  doc: ExecutionDoc | undefined,
  ctx: {
    admin: RedriveAdmin;
    byExecution: Map<string, Described>;
    claims: PoisonClaimKeeper;
    settled: Set<string>;
    dryRun: boolean;
  },
): Promise<RetryOutcome> {
  const no = (detail: string): RetryOutcome => ({ execution_id: id, result: "not-retryable", detail });
  if (!doc) return no("no such execution record");
  const redrive = currentRedrive(doc);
  if (doc.status === "pending" && redrive?.state === "queued") {
    return { execution_id: id, result: "already-queued", detail: `re-drive ${redrive.id} at ${redrive.at}` };
  }
  if (doc.status === "completed") return { execution_id: id, result: "already-completed" };

  // From the poison record when there is one: for a failed execution, or to finish a re-drive of that record.
  const poisoned = ctx.byExecution.get(id);
  if (poisoned && (doc.status === "failed" || redrive?.poison_message_id === poisoned.entry.id)) {
    await ctx.claims.take(poisoned.entry);
    const r = await ctx.admin.requeue(poisoned, { dryRun: ctx.dryRun });
    const detail = `poison record ${r.id}`;
    switch (r.result) {
      case "requeued":
      case "finished-earlier-requeue":
        ctx.settled.add(r.id);
        return { execution_id: id, result: "requeued-from-poison", detail };
      case "already-completed":
        ctx.settled.add(r.id);
        return { execution_id: id, result: "already-completed", detail };
      case "would-requeue":
        return { execution_id: id, result: "would-requeue-from-poison", detail };
      default:
        return no(`its poison record ${r.id} cannot be re-driven: ${r.detail ?? "unknown reason"}`);
    }
  }

  const store = await ctx.admin.cosmos();
  const inputExecutor = (doc as { executed_input_executor?: string | null }).executed_input_executor ?? null;
  const result = await ctx.admin.retryFromRecord(doc, {
    dryRun: ctx.dryRun,
    readable: () => pipelineReadsContent(store.pipelines, doc.pipeline_id ?? "", inputExecutor),
  });
  switch (result.kind) {
    case "would-rebuild":
      return { execution_id: id, result: "would-rebuild-from-record" };
    case "queued":
      return { execution_id: id, result: "rebuilt-from-record", detail: `${doc.content?.length ?? 0} item(s)` };
    case "already-queued":
      return { execution_id: id, result: "already-queued", detail: `re-drive ${result.redriveId}` };
    case "completed":
      return { execution_id: id, result: "already-completed" };
    case "refused":
      return no(result.reason);
  }
}
