// The source worker: schedules one crawl per enabled VAULT at its input executor's polling interval and runs it
// under the vault's lease (crawl-vault.ts). `runSourceOnce` is the `--once` form.
//
// Deliberate differences from the Python worker:
// - scheduled per vault (it keyed its schedule by pipeline, so a second vault of a pipeline was never crawled); the
//   interval (int or numeric string) is re-read whenever the pipeline document changes (its etag; it cached the
//   first value it saw), otherwise DEFAULT_POLLING_INTERVAL_SECONDS.
// - no "No content discovered" execution record is ever written (it wrote one on every poll); empty crawls are
//   counted (empty_crawls_total) and the last result per vault is shown in the worker's status info.
// - a held lease, a vault another process crawled less than an interval ago, or a failure reschedule the vault with
//   a jittered delay (failures: exponential backoff) instead of retrying every scheduler tick (it retried every 5 s,
//   and each of its processes crawled every vault once per interval).
// - a disabled pipeline (enabled: false) is skipped (it only looked at the vault's flag).
// - Failures (missing pipeline, unknown executor, bad settings, storage errors) write ONE failed execution record
//   per distinct failure; repeats increment its `occurrences`.
import * as v from "valibot";
import type { WorkerContext } from "../../model/worker-context.ts";
import { openCosmosStore } from "../../store/cosmos.ts";
import type { VaultDoc } from "../../model/documents.ts";
import { listEnabledVaults, readVaultDoc } from "../../store/vaults.ts";
import { readPipelineDoc } from "../../store/pipelines.ts";
import { PythonLockStore } from "../../store/python-locks.ts";
import { isLeaseFree, LeaseStore } from "../../store/leases.ts";
import { CheckpointStore } from "../../store/checkpoints.ts";
import { TaskSender } from "../../queue/sender.ts";
import { defaultRegistry } from "../../pipeline/index.ts";
import { type CrawlOutcome, crawlVault, type SourceDeps } from "./crawl-vault.ts";
import { FailureLog } from "./failures.ts";
import { pollingIntervalOf } from "./input-executor.ts";
import { type ScheduledVault, VaultSchedule } from "./schedule.ts";
import { sleep } from "../../util/sleep.ts";
import { errorSummary } from "../../util/errors.ts";
import { OutageGate } from "../../util/outage-gate.ts";
import { describeDependencyError } from "../../util/dependency-error.ts";
import { startTelemetry, type Telemetry } from "../../telemetry/index.ts";
import { telemetryPlan } from "../../telemetry/plan.ts";
import { buildInfo } from "../../runtime/build-info.ts";

export interface SourceOnceSummary {
  vaults: number;
  items_discovered: number;
  tasks_queued: number;
  errors: string[];
}

/** Crawls of different vaults one worker process runs at the same time. */
const MAX_CONCURRENT_CRAWLS = 4;
const BACKOFF_MAX_SECONDS = 600;

interface SourceRuntime extends SourceDeps {
  failures: FailureLog;
  telemetry: Telemetry;
  close(): Promise<void>;
}

async function openSource(ctx: WorkerContext): Promise<SourceRuntime> {
  const store = await openCosmosStore(ctx.config);
  const heldLeases: SourceDeps["heldLeases"] = new Map();
  const telemetry = await startTelemetry(telemetryPlan(ctx.config), {
    role: "source",
    workerId: ctx.workerId,
    version: buildInfo().version,
    logger: ctx.logger,
    dropsTo: ctx.report,
  });
  return {
    // Counters also as OpenTelemetry metrics when telemetry is on.
    ctx: { ...ctx, report: telemetry.metered(ctx.report) },
    store,
    leases: new LeaseStore(store.locks, ctx.config.LOCK_TTL_SECONDS),
    pythonLocks: new PythonLockStore(store.locks, ctx.config.LOCK_TTL_SECONDS),
    checkpoints: new CheckpointStore(store.checkpoints),
    sender: new TaskSender(ctx.config),
    registry: defaultRegistry(),
    heldLeases,
    onLeasesChanged: () => ctx.report.info("leases", [...heldLeases.values()]),
    failures: new FailureLog(store.executions, ctx.workerId, ctx.logger),
    telemetry,
    close: async () => {
      store.close();
      await telemetry.shutdown(2000);
    },
  };
}

/** One line for the summary / status: what happened to a vault's crawl. */
function describeOutcome(vaultId: string, outcome: CrawlOutcome): string {
  switch (outcome.status) {
    case "completed":
      return `crawled: ${outcome.itemsDiscovered} new item(s), ${outcome.tasksQueued} task(s)`;
    case "interrupted":
      return `interrupted (${outcome.reason}) after ${outcome.tasksQueued} task(s)`;
    case "lease_lost":
      return `vault '${vaultId}': ${outcome.reason}`;
    case "failed":
      return `vault '${vaultId}': ${outcome.failure.message}`;
    case "lease_held":
      return `vault '${vaultId}': lease held by ${outcome.holder ?? "another worker"} until ${
        outcome.expiresAt?.toISOString() ?? "(unknown)"
      }`;
    case "skipped":
      return `skipped: ${outcome.reason}`;
  }
}

/** Counts and failure records for a finished attempt; shared by the loop and --once. */
async function account(runtime: SourceRuntime, vaultId: string, outcome: CrawlOutcome): Promise<void> {
  const { report } = runtime.ctx;
  if (outcome.status === "lease_held" || outcome.status === "skipped") return;
  report.count("crawls_total");
  if (outcome.status === "completed") {
    if (outcome.itemsDiscovered === 0) report.count("empty_crawls_total");
    runtime.failures.clear(vaultId);
  }
  if (outcome.status === "failed") {
    report.count("crawl_errors_total");
    const recorded = await runtime.failures.record(vaultId, outcome.failure);
    runtime.ctx.logger.warn("crawl failed", {
      vault_id: vaultId,
      pipeline_id: outcome.failure.pipelineId,
      execution_id: recorded.executionId,
      failure: outcome.failure.kind,
      error: outcome.failure.message,
      occurrences: recorded.occurrences,
    });
  }
}

async function crawlSafely(runtime: SourceRuntime, vault: VaultDoc): Promise<CrawlOutcome> {
  try {
    // The crawl's span is the parent of the tasks it queues (the sender puts its traceparent in each message).
    return await runtime.telemetry.span(
      "contentflow.crawl",
      { "contentflow.vault_id": vault.id, "contentflow.pipeline_id": vault.pipeline_id },
      () => crawlVault(runtime, vault, runtime.ctx.drain),
    );
  } catch (err) {
    // crawlVault reports expected failures as outcomes; this is a bug or an unexpected SDK error.
    return {
      status: "failed",
      failure: {
        kind: "crawl_failed",
        pipelineId: vault.pipeline_id,
        pipelineName: vault.pipeline_name ?? null,
        message: `unexpected error while crawling vault '${vault.id}': ${errorSummary(err)}`,
      },
      itemsDiscovered: 0,
      tasksQueued: 0,
    };
  }
}

export async function runSourceOnce(ctx: WorkerContext, opts: { vaultId?: string }): Promise<SourceOnceSummary> {
  const summary: SourceOnceSummary = { vaults: 0, items_discovered: 0, tasks_queued: 0, errors: [] };
  const runtime = await openSource(ctx);
  try {
    let vaults: VaultDoc[];
    try {
      vaults = await onceVaults(runtime, opts.vaultId, summary.errors);
    } catch (err) {
      summary.errors.push(`cannot read vaults: ${errorSummary(err)}`);
      return summary;
    }
    ctx.report.setReady(true);
    for (const vault of vaults) {
      if (ctx.drain.aborted) {
        summary.errors.push(`vault '${vault.id}': not crawled (shutting down)`);
        continue;
      }
      summary.vaults++;
      ctx.report.setInFlight(1);
      const outcome = await crawlSafely(runtime, vault);
      ctx.report.setInFlight(0);
      await account(runtime, vault.id, outcome);
      if ("itemsDiscovered" in outcome) {
        summary.items_discovered += outcome.itemsDiscovered;
        summary.tasks_queued += outcome.tasksQueued;
      }
      const line = describeOutcome(vault.id, outcome);
      if (outcome.status === "failed" || outcome.status === "lease_held" || outcome.status === "lease_lost") {
        summary.errors.push(line);
      } else if (outcome.status === "skipped" && opts.vaultId) {
        summary.errors.push(`vault '${vault.id}': ${line}`);
      }
    }
    return summary;
  } finally {
    ctx.report.setReady(false, "finished");
    await runtime.close();
  }
}

async function onceVaults(runtime: SourceRuntime, vaultId: string | undefined, errors: string[]): Promise<VaultDoc[]> {
  const { config } = runtime.ctx;
  if (vaultId) {
    const read = await readVaultDoc(runtime.store.vaults, vaultId);
    if (read.kind === "not-found") {
      errors.push(
        `vault '${vaultId}' not found in container '${config.COSMOS_DB_CONTAINER_VAULTS}' of database '${config.COSMOS_DB_NAME}'`,
      );
      return [];
    }
    if (read.kind === "malformed") {
      errors.push(`vault '${vaultId}' is malformed: ${read.problem}`);
      return [];
    }
    if (read.doc.enabled === false) {
      errors.push(`vault '${vaultId}' is disabled`);
      return [];
    }
    return [read.doc];
  }
  const listed = await listEnabledVaults(runtime.store.vaults);
  for (const m of listed.malformed) errors.push(`vault '${m.id}' is malformed: ${m.problem}`);
  return listed.vaults;
}

const PipelineEtagsSchema = v.array(v.looseObject({ id: v.string(), _etag: v.string() }));

/** Vault list → schedule; pipelines whose document changed are re-read for `enabled` and the interval. */
async function refreshSchedule(runtime: SourceRuntime, schedule: VaultSchedule, reported: Set<string>): Promise<void> {
  const { vaults, malformed } = await listEnabledVaults(runtime.store.vaults);
  for (const m of malformed) {
    const key = `${m.id}|${m.problem}`;
    if (reported.has(key)) continue;
    reported.add(key);
    runtime.ctx.logger.warn("vault document is malformed; not crawled", { vault_id: m.id, error: m.problem });
  }
  const now = Date.now();
  const { added, removed } = schedule.sync(vaults, now);
  for (const id of added) runtime.ctx.logger.info("vault scheduled", { vault_id: id });
  for (const id of removed) runtime.ctx.logger.info("vault unscheduled (disabled or deleted)", { vault_id: id });
  const ids = schedule.pipelineIds();
  if (ids.length === 0) return;
  const { resources } = await runtime.store.pipelines.items
    .query({
      query: "SELECT c.id, c._etag FROM c WHERE ARRAY_CONTAINS(@ids, c.id)",
      parameters: [{ name: "@ids", value: ids }],
    })
    .fetchAll();
  const etags = new Map(v.parse(PipelineEtagsSchema, resources).map((r) => [r.id, r._etag]));
  for (const id of ids) {
    const etag = etags.get(id);
    const entries = [...schedule.entries.values()].filter((e) => e.vault.pipeline_id === id);
    if (entries.every((e) => e.pipelineEtag === etag && etag !== undefined)) continue;
    if (etag === undefined) {
      // Missing pipeline: keep it due so the crawl records the failure (with backoff).
      schedule.applyPipeline(id, { etag: undefined, enabled: true }, now);
      continue;
    }
    const read = await readPipelineDoc(runtime.store.pipelines, id);
    const doc = read.kind === "found" ? read.doc : undefined;
    const intervalSeconds = doc ? pollingIntervalOf(doc, runtime.registry) : undefined;
    schedule.applyPipeline(id, { etag, enabled: doc?.enabled !== false, intervalSeconds }, now);
    runtime.ctx.logger.info("pipeline schedule read", {
      pipeline_id: id,
      enabled: doc?.enabled !== false,
      interval_seconds: intervalSeconds ?? runtime.ctx.config.DEFAULT_POLLING_INTERVAL_SECONDS,
      interval_from: intervalSeconds ? "executor" : "default",
    });
  }
}

async function runScheduledCrawl(
  runtime: SourceRuntime,
  schedule: VaultSchedule,
  entry: ScheduledVault,
): Promise<void> {
  const id = entry.vault.id;
  const tickMs = runtime.ctx.config.SCHEDULER_SLEEP_INTERVAL_SECONDS * 1000;
  try {
    // Another process finished a crawl of this vault moments ago: wait for the rest of its interval
    // (each worker process keeps its own schedule; this keeps them from crawling once each per interval).
    const lease = await runtime.leases.read(id).catch(() => undefined);
    const lastCrawled = lease?.last_crawled_at ? Date.parse(lease.last_crawled_at) : NaN;
    const dueAt = lastCrawled + entry.intervalSeconds * 1000;
    if (lease && isLeaseFree(lease, Date.now()) && dueAt - Date.now() > tickMs) {
      schedule.deferred(
        id,
        Date.now(),
        `crawled recently by another worker; next after ${new Date(dueAt).toISOString()}`,
        dueAt,
      );
      return;
    }
    const outcome = await crawlSafely(runtime, entry.vault);
    await account(runtime, id, outcome);
    const now = Date.now();
    const line = describeOutcome(id, outcome);
    switch (outcome.status) {
      case "completed":
      case "interrupted":
        schedule.succeeded(id, now, line);
        break;
      case "failed":
        schedule.failed(id, now, line);
        break;
      case "lease_held":
      case "lease_lost":
      case "skipped":
        schedule.deferred(id, now, line);
        break;
    }
  } catch (err) {
    runtime.ctx.logger.error("scheduled crawl failed unexpectedly", { vault_id: id, err });
    schedule.failed(id, Date.now(), `error: ${errorSummary(err)}`);
  }
}

function publishSchedule(runtime: SourceRuntime, schedule: VaultSchedule): void {
  runtime.ctx.report.info(
    "vaults",
    [...schedule.entries.values()].map((e) => ({
      vault_id: e.vault.id,
      pipeline_id: e.vault.pipeline_id,
      interval_seconds: e.intervalSeconds,
      interval_from: e.intervalFrom,
      pipeline_enabled: e.pipelineEnabled,
      running: e.running,
      next_run_at: new Date(e.nextRunAt).toISOString(),
      last_result: e.lastResult ?? null,
    })),
  );
}

/** Runs the scheduler loop until ctx.drain is aborted; releases held leases before returning. */
export async function runSourceWorker(ctx: WorkerContext): Promise<void> {
  const { config, logger } = ctx;
  const runtime = await openSource(ctx);
  const tickMs = config.SCHEDULER_SLEEP_INTERVAL_SECONDS * 1000;
  const schedule = new VaultSchedule({
    defaultIntervalSeconds: config.DEFAULT_POLLING_INTERVAL_SECONDS,
    backoffBaseSeconds: 3 * config.SCHEDULER_SLEEP_INTERVAL_SECONDS,
    backoffMaxSeconds: BACKOFF_MAX_SECONDS,
  });
  const running = new Map<string, Promise<void>>();
  const reportedMalformed = new Set<string>();
  // While vaults and pipelines cannot be read (Cosmos unreachable), look less often: the tick, doubling, up to 12.
  const outage = new OutageGate({
    firstDelayMs: tickMs,
    maxDelayMs: 12 * tickMs,
    listener: {
      failed: (err, failures) => {
        const what = describeDependencyError(err, {
          service: "Cosmos DB",
          endpoint: ctx.config.COSMOS_DB_ENDPOINT || undefined,
        });
        ctx.report.setReady(false, `cannot read vaults/pipelines: ${what.text}`);
        if (failures === 1 || failures % 10 === 0) {
          logger.warn("cannot read vaults/pipelines; retrying", { err, attempts: failures });
        }
      },
      up: () => logger.info("vaults readable again"),
    },
  });
  logger.info("source worker started", {
    worker_id: ctx.workerId,
    tick_seconds: config.SCHEDULER_SLEEP_INTERVAL_SECONDS,
  });
  try {
    while (!ctx.drain.aborted) {
      try {
        await refreshSchedule(runtime, schedule, reportedMalformed);
        outage.noteSuccess();
        ctx.report.setReady(true);
      } catch (err) {
        outage.noteFailure(err);
      }
      for (const entry of schedule.due(Date.now())) {
        if (ctx.drain.aborted || running.size >= MAX_CONCURRENT_CRAWLS) break;
        const id = entry.vault.id;
        schedule.started(id, Date.now());
        const crawl = runScheduledCrawl(runtime, schedule, entry).finally(() => {
          running.delete(id);
          runtime.ctx.report.setInFlight(running.size);
          publishSchedule(runtime, schedule);
        });
        running.set(id, crawl);
      }
      runtime.ctx.report.setInFlight(running.size);
      publishSchedule(runtime, schedule);
      await sleep(outage.isDown ? outage.nextDelayMs() : tickMs, ctx.drain);
    }
  } finally {
    ctx.report.setReady(false, "draining");
    logger.info("source worker draining", { crawls_running: running.size });
    await Promise.allSettled(running.values());
    ctx.report.setInFlight(0);
    await runtime.close();
    logger.info("source worker stopped");
  }
}
