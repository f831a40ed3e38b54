// Source worker: every SCHEDULER_SLEEP_INTERVAL_SECONDS read the enabled vaults, schedule each VAULT by its input
// executor's polling_interval_seconds, and crawl the due ones under a Cosmos lease (src/source/crawl-vault.ts).
import type { WorkerContext } from "./context.ts";
import { openCosmosStore } from "../store/cosmos.ts";
import { listEnabledVaults, readPipeline, readVault } from "../store/vaults.ts";
import { LeaseStore } from "../store/leases.ts";
import { CheckpointStore } from "../store/checkpoints.ts";
import { TaskSender } from "../queue/sender.ts";
import { defaultRegistry, findInputExecutor, parsePipelineYaml } from "../pipeline/index.ts";
import { type CrawlDeps, crawlVault, pollingInterval } from "../source/crawl-vault.ts";
import { FailureLog } from "../source/failures.ts";
import { VaultSchedule } from "../source/schedule.ts";
import type { VaultDoc } from "../store/documents.ts";

export interface SourceOnceSummary {
  vaults: number;
  items_discovered: number;
  tasks_queued: number;
  errors: string[];
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

async function setup(ctx: WorkerContext) {
  const store = await openCosmosStore(ctx.config);
  const sender = new TaskSender(ctx.config);
  await sender.queue.createIfNotExists();
  const deps: CrawlDeps = {
    config: ctx.config,
    logger: ctx.logger,
    workerId: ctx.workerId,
    executions: store.executions,
    pipelines: store.pipelines,
    leases: new LeaseStore(store.locks, ctx.config.LOCK_TTL_SECONDS),
    checkpoints: new CheckpointStore(store.checkpoints),
    sender,
    registry: defaultRegistry(),
    report: ctx.report,
  };
  return { store, deps, failures: new FailureLog(store.executions, ctx.workerId, ctx.logger) };
}

/** One crawl of every enabled vault (or just `vaultId`), honouring leases. */
export async function runSourceOnce(ctx: WorkerContext, opts: { vaultId?: string }): Promise<SourceOnceSummary> {
  const { store, deps, failures } = await setup(ctx);
  const summary: SourceOnceSummary = { vaults: 0, items_discovered: 0, tasks_queued: 0, errors: [] };
  try {
    let vaults: VaultDoc[];
    if (opts.vaultId) {
      const read = await readVault(store.vaults, opts.vaultId);
      if (!read.found || !read.doc) {
        summary.errors.push(`vault ${opts.vaultId}: ${read.found ? "malformed document" : "not found"}`);
        return summary;
      }
      if (read.doc.enabled === false) {
        summary.errors.push(`vault ${opts.vaultId} is disabled`);
        return summary;
      }
      vaults = [read.doc];
    } else {
      const listed = await listEnabledVaults(store.vaults);
      vaults = listed.vaults;
      for (const m of listed.malformed) summary.errors.push(`vault ${m.id}: malformed document: ${m.problem}`);
    }
    for (const vault of vaults) {
      if (ctx.drain.aborted) break;
      summary.vaults++;
      ctx.report.count("crawls_total");
      const outcome = await crawlVault(deps, vault, ctx.drain);
      if (outcome.status === "crawled") {
        summary.items_discovered += outcome.discovered;
        summary.tasks_queued += outcome.queued;
      } else if (outcome.status === "held") {
        summary.errors.push(`vault ${vault.id}: lease held by ${outcome.holder ?? "another worker"}${outcome.expiresAt ? ` until ${outcome.expiresAt.toISOString()}` : ""}`);
      } else {
        ctx.report.count("crawl_errors_total");
        await failures.record(vault.id, outcome.failure);
        summary.errors.push(`vault ${vault.id}: ${outcome.failure.message}`);
      }
    }
    return summary;
  } finally {
    store.close();
  }
}

/** Runs the scheduler loop until ctx.drain is aborted; leases are released as each crawl ends. */
export async function runSourceWorker(ctx: WorkerContext): Promise<void> {
  const { config, logger, report } = ctx;
  const { store, deps, failures } = await setup(ctx);
  const schedule = new VaultSchedule({
    defaultIntervalSeconds: config.DEFAULT_POLLING_INTERVAL_SECONDS,
    backoffBaseSeconds: Math.max(5, config.SCHEDULER_SLEEP_INTERVAL_SECONDS),
    backoffMaxSeconds: Math.max(60, config.DEFAULT_POLLING_INTERVAL_SECONDS),
  });
  const pipelineEtags = new Map<string, string | undefined>();
  let outage = false;
  while (!ctx.drain.aborted) {
    try {
      const now = Date.now();
      const listed = await listEnabledVaults(store.vaults);
      for (const m of listed.malformed) logger.warn("malformed vault document skipped", { vault_id: m.id, problem: m.problem });
      schedule.sync(listed.vaults, now);
      for (const pipelineId of schedule.pipelineIds()) {
        const read = await readPipeline(store.pipelines, pipelineId);
        const doc = read.found ? read.doc : undefined;
        const etag = doc?._etag;
        if (pipelineEtags.has(pipelineId) && pipelineEtags.get(pipelineId) === etag) continue;
        pipelineEtags.set(pipelineId, etag);
        let intervalSeconds: number | undefined;
        try {
          if (doc) intervalSeconds = pollingInterval(findInputExecutor(parsePipelineYaml(doc.yaml), deps.registry)?.settings);
        } catch { /* reported when the crawl runs */ }
        schedule.applyPipeline(pipelineId, { etag, enabled: doc?.enabled !== false, intervalSeconds }, now);
      }
      if (outage) logger.info("Cosmos DB reachable again");
      outage = false;
      report.setReady(true);
      report.info("scheduled_vaults", schedule.entries.size);
      for (const due of schedule.due(Date.now())) {
        if (ctx.drain.aborted) break;
        const id = due.vault.id;
        schedule.started(id, Date.now());
        report.count("crawls_total");
        const outcome = await crawlVault(deps, due.vault, ctx.drain);
        if (outcome.status === "crawled") {
          failures.clear(id);
          schedule.succeeded(id, Date.now(), `${outcome.queued} task(s) queued`);
        } else if (outcome.status === "held") {
          schedule.deferred(id, Date.now(), `lease held by ${outcome.holder}`, outcome.expiresAt?.getTime());
        } else {
          report.count("crawl_errors_total");
          await failures.record(id, outcome.failure);
          schedule.failed(id, Date.now(), outcome.failure.message);
        }
      }
    } catch (err) {
      if (!outage) logger.error("source scheduling failed; retrying", { err });
      outage = true;
      report.setReady(false, "Cosmos DB unreachable");
    }
    await sleep(config.SCHEDULER_SLEEP_INTERVAL_SECONDS * 1000, ctx.drain);
  }
  report.setReady(false, "draining");
  store.close();
}
