// One crawl of one vault: pipeline → input executor → lease → crawl from the checkpoint → for each batch a pending
// execution record, then the task message → checkpoint advanced (fenced by the lease epoch) only past what was
// enqueued → lease released. Failures come back as a SourceFailure for the caller to record once.
import type { Container } from "@azure/cosmos";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import type { VaultDoc } from "../store/documents.ts";
import { newId } from "../store/documents.ts";
import { readPipeline } from "../store/vaults.ts";
import type { LeaseStore } from "../store/leases.ts";
import { type CheckpointStore, crawlFrom, type DoneItem, itemVersionKey } from "../store/checkpoints.ts";
import { createPendingExecution, markExecutionFailed } from "../store/execution-records.ts";
import { planTaskMessages, type TaskSender } from "../queue/sender.ts";
import type { TaskMessage } from "../queue/envelope.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import type { SourceFailure } from "./failures.ts";
import { createExecutor, type ExecutorRegistry, findInputExecutor, isInputExecutor, parsePipelineYaml, PipelineError } from "../pipeline/index.ts";
import type { WorkerReporter } from "../workers/context.ts";
import { nowIso } from "../pipeline/content.ts";

export interface CrawlDeps {
  config: Config;
  logger: Logger;
  workerId: string;
  executions: Container;
  pipelines: Container;
  leases: LeaseStore;
  checkpoints: CheckpointStore;
  sender: TaskSender;
  registry: ExecutorRegistry;
  report: WorkerReporter;
}

export type CrawlOutcome =
  | { status: "crawled"; discovered: number; queued: number; complete: boolean; intervalSeconds?: number }
  | { status: "held"; holder: string | null; expiresAt?: Date }
  | { status: "failed"; failure: SourceFailure };

/** polling_interval_seconds of the input executor: a positive int or numeric string (the Python worker cached it: W2). */
export function pollingInterval(settings: Record<string, unknown> | null | undefined): number | undefined {
  const raw = settings?.polling_interval_seconds;
  const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function lastModifiedOf(item: { id: { metadata?: Record<string, unknown> | null } }): Date | undefined {
  const raw = item.id.metadata?.last_modified;
  const t = typeof raw === "string" ? Date.parse(raw) : raw instanceof Date ? raw.getTime() : NaN;
  return Number.isNaN(t) ? undefined : new Date(t);
}

export async function crawlVault(deps: CrawlDeps, vault: VaultDoc, signal: AbortSignal): Promise<CrawlOutcome> {
  const { config, logger } = deps;
  const log = logger.child({ vault_id: vault.id, pipeline_id: vault.pipeline_id });
  const fail = (kind: SourceFailure["kind"], message: string, pipelineName: string | null = null, executorId: string | null = null): CrawlOutcome => ({
    status: "failed",
    failure: { kind, message, pipelineId: vault.pipeline_id, pipelineName, executorId },
  });

  let read;
  try {
    read = await readPipeline(deps.pipelines, vault.pipeline_id);
  } catch (err) {
    return fail("store_unavailable", `could not read pipeline ${vault.pipeline_id}: ${(err as Error).message}`);
  }
  if (!read.found) return fail("pipeline_missing", `pipeline ${vault.pipeline_id} not found`);
  if (!read.doc) return fail("pipeline_invalid", `pipeline ${vault.pipeline_id} is malformed: ${"problem" in read ? read.problem : ""}`);
  const pipeline = read.doc;
  if (pipeline.enabled === false) return fail("pipeline_invalid", `pipeline ${pipeline.id} is disabled`, pipeline.name);

  let executor;
  let executorId: string;
  let intervalSeconds: number | undefined;
  try {
    const def = parsePipelineYaml(pipeline.yaml);
    const cfg = findInputExecutor(def, deps.registry);
    if (!cfg) return fail("no_input_executor", `pipeline ${pipeline.id} has no enabled input executor that can crawl`, pipeline.name);
    executorId = cfg.id;
    intervalSeconds = pollingInterval(cfg.settings);
    executor = createExecutor(cfg, deps.registry, { config, logger });
    if (!isInputExecutor(executor)) return fail("no_input_executor", `executor '${cfg.id}' (${cfg.type}) cannot crawl`, pipeline.name, cfg.id);
  } catch (err) {
    const kind = err instanceof PipelineError && /executor '/.test(err.message) ? "executor_invalid" : "pipeline_invalid";
    return fail(kind, (err as Error).message, pipeline.name);
  }

  const sentAt = performance.now();
  const acquired = await deps.leases.acquire(vault.id, pipeline.id, deps.workerId);
  if (!acquired.acquired) {
    deps.report.count("lease_conflicts_total");
    return { status: "held", holder: acquired.holder, expiresAt: acquired.expiresAt };
  }
  const keeper = new LeaseKeeper(deps.leases, acquired.lease, {
    logger: log,
    onLost: (err) => {
      deps.report.count("lease_lost_total");
      log.warn("crawl lease lost; stopping the crawl", { err });
    },
  });
  keeper.start(sentAt);
  const epoch = acquired.lease.epoch;
  const crawlSignal = AbortSignal.any([signal, keeper.signal]);
  const key = { vaultId: vault.id, pipelineId: pipeline.id, executorId };
  const started = Date.now();
  const done: DoneItem[] = [];
  let discovered = 0;
  let queued = 0;
  let complete = false;
  let failure: CrawlOutcome | undefined;
  deps.report.setInFlight(1);
  try {
    const checkpoint = await deps.checkpoints.read(key);
    const from = crawlFrom(checkpoint);
    const build = (items: TaskMessage["payload"]["content"]): TaskMessage => ({
      task_type: "content_processing",
      payload: {
        task_id: newId("task"),
        task_type: "content_processing",
        priority: "normal",
        pipeline_id: pipeline.id,
        pipeline_name: pipeline.name,
        execution_id: newId("exec"),
        vault_id: vault.id,
        content: items,
        executed_input_executor: executorId,
        created_at: nowIso(),
        retry_count: 0,
        max_retries: config.MAX_TASK_RETRIES,
        lease_epoch: epoch,
      },
    });
    crawl: for await (const batch of executor.crawl(from, { executorId, pipelineName: pipeline.name, signal: crawlSignal, logger: log })) {
      const fresh = [];
      for (const item of batch.items) {
        const modified = lastModifiedOf(item) ?? batch.maxModified ?? new Date(0);
        const versionKey = itemVersionKey(item.id.unique_id, modified);
        if (checkpoint?.recentKeys.has(versionKey)) {
          done.push({ key: versionKey, lastModified: modified });
          continue;
        }
        fresh.push({ item, done: { key: versionKey, lastModified: modified } });
      }
      discovered += fresh.length;
      for (const planned of planTaskMessages(fresh.map((f) => f.item), build)) {
        if (crawlSignal.aborted) break crawl;
        const ref = await createPendingExecution(deps.executions, planned.message, { workerId: deps.workerId });
        try {
          await deps.sender.send(planned);
        } catch (err) {
          await markExecutionFailed(deps.executions, ref, `could not enqueue the task: ${(err as Error).message}`).catch(() => false);
          throw Object.assign(new Error(`could not enqueue a task: ${(err as Error).message}`), { enqueue: true });
        }
        queued++;
        deps.report.count("tasks_enqueued_total");
        const ids = new Set(planned.message.payload.content.map((c) => c.id.unique_id));
        for (const f of fresh) if (ids.has(f.item.id.unique_id)) done.push(f.done);
      }
      if (crawlSignal.aborted) break;
    }
    complete = !crawlSignal.aborted;
    deps.report.count("items_discovered_total", discovered);
    if (discovered === 0) deps.report.count("empty_crawls_total");
    await keeper.confirm();
    await deps.checkpoints.record(key, epoch, deps.workerId, {
      complete,
      done,
      enqueuedCount: queued,
      crawlSeconds: (Date.now() - started) / 1000,
    });
    log.info("crawl finished", { items_discovered: discovered, tasks_queued: queued, complete, lease_epoch: epoch });
  } catch (err) {
    const message = (err as Error).message;
    failure = fail((err as { enqueue?: boolean }).enqueue ? "enqueue_failed" : "crawl_failed", message, pipeline.name, executorId);
    log.error("crawl failed", { error: message, items_discovered: discovered, tasks_queued: queued });
  } finally {
    deps.report.setInFlight(0);
    await keeper.stopAndRelease({ crawlCompleted: complete });
    await executor.close?.().catch(() => undefined);
  }
  return failure ?? { status: "crawled", discovered, queued, complete, intervalSeconds };
}
