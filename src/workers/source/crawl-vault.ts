// One crawl of one vault under its lease:
//   pipeline → lease → checkpoint → input executor's crawl → per message: pending execution record, THEN the
//   queue message → checkpoint merged with what was enqueued → lease released.
// Ordering and stop rules (the Python worker advanced its checkpoint past failed sends, used its own clock as the
// checkpoint, lost batches over the 64 KiB message limit, and could orphan a pending record between create and send):
// - the record exists before its message, so a message never refers to a missing record; if the send fails the
//   record is marked failed and the crawl stops;
// - the checkpoint moves only for items that were enqueued, to their own last-modified times; a crawl that stops
//   early (failure, shutdown, lost lease) never moves the timestamp, it only remembers what it sent;
// - losing the lease aborts the listing at once and nothing more is written, not even the checkpoint. The record
//   + send pairs already in flight (at most CRAWL_SENDS_IN_FLIGHT) complete, so no execution is left ambiguous.
// Memory does not grow with the vault: the listing holds at most two pages, sends in flight are bounded, and of the
// items enqueued only what the checkpoint can keep (DoneItems: the newest MAX_RECENT_KEYS) is remembered.
import type { WorkerContext } from "../../model/worker-context.ts";
import { errorSummary } from "../../util/errors.ts";
import type { CosmosStore } from "../../store/cosmos.ts";
import type { VaultDoc } from "../../model/documents.ts";
import { readPipelineDoc } from "../../store/pipelines.ts";
import { type Lease, LeaseLostError, type LeaseStore } from "../../store/leases.ts";
import {
  type Checkpoint,
  type CheckpointKey,
  type CheckpointStore,
  crawlFrom,
  type CrawlProgress,
  type DoneItem,
  DoneItems,
  FencedError,
  itemVersionKey,
} from "../../store/checkpoints.ts";
import { type PlannedTask, planTaskMessages, type TaskSender } from "../../queue/sender.ts";
import { SendTaskError, sendTaskWithRecord } from "./send-task.ts";
import { buildTaskMessage, type TaskMessage } from "../../model/task-envelope.ts";
import { type Content, nowIso } from "../../model/content.ts";
import type { InputExecutorInstance } from "../../executors/types.ts";
import { type CompanionLock, LeaseKeeper } from "./lease-keeper.ts";
import type { PythonLock, PythonLockStore } from "../../store/python-locks.ts";
import type { SourceFailure } from "./failures.ts";
import { type ExecutorRegistry, resolveInputExecutor } from "./input-executor.ts";
import { SendWindow } from "./send-window.ts";

export interface SourceDeps {
  ctx: WorkerContext;
  store: CosmosStore;
  leases: LeaseStore;
  checkpoints: CheckpointStore;
  /**
   * The Python worker's pipeline locks: honoured before crawling and held while crawling, so a Python worker in a
   * mixed fleet never crawls the same pipeline at once (store/python-locks.ts). Absent = not checked.
   */
  pythonLocks?: PythonLockStore;
  sender: TaskSender;
  registry: ExecutorRegistry;
  /** Called with the vaults this process holds a lease on, whenever that changes. */
  onLeasesChanged?: () => void;
  heldLeases: Map<string, { vault_id: string; pipeline_id: string; epoch: number; acquired_at: string }>;
}

export interface CrawlCounts {
  itemsDiscovered: number;
  tasksQueued: number;
}

export type CrawlOutcome =
  | ({ status: "completed"; epoch: number; executorId: string } & CrawlCounts)
  | ({ status: "interrupted"; epoch: number; executorId: string; reason: string } & CrawlCounts)
  | ({ status: "lease_lost"; reason: string } & CrawlCounts)
  | ({ status: "failed"; failure: SourceFailure } & CrawlCounts)
  | { status: "lease_held"; holder: string | null; expiresAt?: Date }
  | { status: "skipped"; reason: string };

/** A content item's source time: id.metadata.last_modified, else the batch's newest time. */
function itemTime(item: Content, fallback: Date | undefined): Date | undefined {
  const raw = item.id.metadata?.last_modified;
  const t = typeof raw === "string" ? Date.parse(raw) : NaN;
  return Number.isNaN(t) ? fallback : new Date(t);
}

/** Thrown inside the crawl loop to stop it with a recorded failure. */
class CrawlStop extends Error {
  constructor(readonly failure: SourceFailure) {
    super(failure.message);
    this.name = "CrawlStop";
  }
}

/** A crawl that failed before it discovered anything. */
function failedCrawl(failure: SourceFailure): CrawlOutcome {
  return { status: "failed", failure, itemsDiscovered: 0, tasksQueued: 0 };
}

/** A store that could not be reached while `what` was being done. */
function storeUnavailable(vault: VaultDoc, what: string, err: unknown): CrawlOutcome {
  return failedCrawl({
    pipelineId: vault.pipeline_id,
    pipelineName: vault.pipeline_name ?? null,
    kind: "store_unavailable",
    message: `cannot ${what}: ${errorSummary(err)}`,
  });
}

export async function crawlVault(deps: SourceDeps, vault: VaultDoc, drain: AbortSignal): Promise<CrawlOutcome> {
  const { ctx } = deps;
  const log = ctx.logger.child({ vault_id: vault.id, pipeline_id: vault.pipeline_id });
  let pipelineRead: PipelineRead;
  try {
    pipelineRead = await readPipelineDoc(deps.store.pipelines, vault.pipeline_id);
  } catch (err) {
    return storeUnavailable(vault, `read pipeline '${vault.pipeline_id}'`, err);
  }
  if (pipelineRead.kind === "found" && pipelineRead.doc.enabled === false) {
    return { status: "skipped", reason: `pipeline '${vault.pipeline_id}' is disabled` };
  }

  const locked = await takeCrawlLocks(deps, vault);
  if ("status" in locked) return locked;
  const { lease, companion, sentAt } = locked;
  const keeper = new LeaseKeeper(deps.leases, lease, {
    companion,
    logger: log,
    onLost: (err) => {
      ctx.report.count("lease_lost_total");
      log.warn("crawl lease lost; aborting the crawl", { err, epoch: lease.epoch });
    },
  });
  keeper.start(sentAt);
  deps.heldLeases.set(vault.id, {
    vault_id: vault.id,
    pipeline_id: vault.pipeline_id,
    epoch: lease.epoch,
    acquired_at: nowIso(),
  });
  deps.onLeasesChanged?.();
  log.debug("crawl lease acquired", { epoch: lease.epoch });

  let completed = false;
  let instance: InputExecutorInstance | undefined;
  try {
    const failureBase = { pipelineId: vault.pipeline_id, pipelineName: vault.pipeline_name ?? null };
    if (pipelineRead.kind === "not-found") {
      return failedCrawl({
        ...failureBase,
        kind: "pipeline_missing",
        message: `pipeline '${vault.pipeline_id}' of vault '${vault.id}' not found`,
      });
    }
    if (pipelineRead.kind === "malformed") {
      return failedCrawl({
        ...failureBase,
        kind: "pipeline_invalid",
        message: `pipeline '${vault.pipeline_id}' is malformed: ${pipelineRead.problem}`,
      });
    }
    const pipeline = pipelineRead.doc;
    const resolved = resolveInputExecutor(pipeline, deps.registry, { config: ctx.config, logger: log });
    if (!resolved.ok) return failedCrawl(resolved.failure);
    instance = resolved.instance;
    const outcome = await runCrawl(deps, {
      vault,
      pipelineName: pipeline.name ?? "",
      executorId: resolved.executorId,
      instance,
      keeper,
      drain,
      log,
    });
    completed = outcome.status === "completed";
    return outcome;
  } finally {
    await instance?.close?.().catch((err) => log.warn("closing the input executor failed", { err }));
    const released = await keeper.stopAndRelease({ crawlCompleted: completed });
    deps.heldLeases.delete(vault.id);
    deps.onLeasesChanged?.();
    log.debug("crawl lease released", { released, epoch: lease.epoch });
  }
}

type PipelineRead = Awaited<ReturnType<typeof readPipelineDoc>>;

interface CrawlLocks {
  lease: Lease;
  /** The Python worker's pipeline lock, held beside the lease (when deps.pythonLocks is set). */
  companion?: CompanionLock;
  /** When the lease request was sent (performance.now()): the keeper times renewals from it. */
  sentAt: number;
}

/**
 * Takes what a crawl of `vault` must hold: no live Python lock on its pipeline, our crawl lease of the vault, then
 * the Python pipeline lock beside it. Returns the outcome instead when one of them is held elsewhere or a store
 * fails (the lease is released again when the Python lock cannot be taken).
 */
async function takeCrawlLocks(deps: SourceDeps, vault: VaultDoc): Promise<CrawlLocks | CrawlOutcome> {
  const { ctx } = deps;
  if (deps.pythonLocks) {
    // A live Python lock keeps us away from every vault of the pipeline; checked before our own lease is touched.
    try {
      const pythonLock = await deps.pythonLocks.read(vault.pipeline_id);
      const held = deps.pythonLocks.liveHolder(pythonLock, ctx.workerId, vault.id);
      if (held) {
        ctx.report.count("lease_conflicts_total");
        return { status: "lease_held", holder: held.holder, expiresAt: held.expiresAt };
      }
    } catch (err) {
      return storeUnavailable(vault, `read the pipeline lock of '${vault.pipeline_id}'`, err);
    }
  }

  const sentAt = performance.now();
  let acquired: Awaited<ReturnType<LeaseStore["acquire"]>>;
  try {
    acquired = await deps.leases.acquire(vault.id, vault.pipeline_id, ctx.workerId);
  } catch (err) {
    return storeUnavailable(vault, `acquire the crawl lease of vault '${vault.id}'`, err);
  }
  if (!acquired.acquired) {
    ctx.report.count("lease_conflicts_total");
    return { status: "lease_held", holder: acquired.holder, expiresAt: acquired.expiresAt };
  }
  const lease = acquired.lease;
  if (!deps.pythonLocks) return { lease, sentAt };
  const pythonLocks = deps.pythonLocks;
  let py: Awaited<ReturnType<PythonLockStore["acquire"]>>;
  try {
    py = await pythonLocks.acquire(vault.pipeline_id, vault.id, ctx.workerId);
  } catch (err) {
    await deps.leases.release(lease).catch(() => false);
    return storeUnavailable(vault, `take the pipeline lock of '${vault.pipeline_id}'`, err);
  }
  if (!py.acquired) {
    await deps.leases.release(lease).catch(() => false);
    ctx.report.count("lease_conflicts_total");
    return { status: "lease_held", holder: py.holder, expiresAt: py.expiresAt };
  }
  let held: PythonLock = py.lock;
  const companion: CompanionLock = {
    refresh: async () => {
      held = await pythonLocks.refresh(held);
    },
    release: () => pythonLocks.release(held),
  };
  return { lease, companion, sentAt };
}

interface CrawlRun {
  vault: VaultDoc;
  pipelineName: string;
  executorId: string;
  instance: InputExecutorInstance;
  keeper: LeaseKeeper;
  drain: AbortSignal;
  log: WorkerContext["logger"];
}

/** Where a crawl starts: our checkpoint and the Python worker's, and the time `from` they give together. */
interface CrawlStart {
  checkpoint: Checkpoint | undefined;
  pythonFrom: Date | undefined;
  /** The Python checkpoint when it is newer than ours (a Python worker crawled since). */
  pythonNewer: Date | undefined;
  from: Date | undefined;
}

async function readCrawlStart(deps: SourceDeps, key: CheckpointKey): Promise<CrawlStart> {
  const checkpoint = await deps.checkpoints.read(key);
  // Where the Python worker left off, if it crawled this vault: the start without a checkpoint of ours, and a
  // floor with one (in a mixed fleet it may have crawled since; it queued everything older than that).
  const pythonFrom = (await deps.checkpoints.readPython(key))?.timestamp;
  // A Python checkpoint no newer than ours is the one we wrote ourselves (advancePython) and must not cut into our
  // overlap window; a newer one means a Python worker crawled since.
  const ours = crawlFrom(checkpoint);
  const pythonNewer = pythonFrom && (!checkpoint?.timestamp || pythonFrom > checkpoint.timestamp)
    ? pythonFrom
    : undefined;
  const from = pythonNewer && (!ours || pythonNewer > ours) ? pythonNewer : ours;
  return { checkpoint, pythonFrom, pythonNewer, from };
}

/**
 * What the crawl loop gathered: counts, the item versions it queued or found queued (the newest the checkpoint
 * keeps), and why it stopped early.
 */
interface CrawlTally {
  counts: CrawlCounts;
  done: DoneItems;
  untimedNewest: Date | undefined;
  enqueuedCount: number;
  stop: { failure?: SourceFailure; interrupted?: string };
}

async function runCrawl(deps: SourceDeps, run: CrawlRun): Promise<CrawlOutcome> {
  const { vault, keeper, log } = run;
  const epoch = keeper.current.epoch;
  const key: CheckpointKey = { vaultId: vault.id, pipelineId: vault.pipeline_id, executorId: run.executorId };
  const failureBase = {
    pipelineId: vault.pipeline_id,
    pipelineName: run.pipelineName,
    executorId: run.executorId,
  };
  const started = performance.now();
  let start: CrawlStart;
  try {
    start = await readCrawlStart(deps, key);
  } catch (err) {
    return failedCrawl({
      ...failureBase,
      kind: "checkpoint_failed",
      message: `cannot read checkpoint: ${errorSummary(err)}`,
    });
  }
  const { checkpoint, pythonFrom, pythonNewer, from } = start;
  log.info("crawl started", {
    epoch,
    executor_id: run.executorId,
    from: from?.toISOString() ?? null,
    ...(pythonNewer && from === pythonNewer ? { from_python_checkpoint: true } : {}),
  });
  const tally = await crawlBatches(deps, run, from, checkpoint?.recentKeys ?? new Set<string>(), failureBase);
  const { counts, stop } = tally;

  if (keeper.signal.aborted) {
    const reason = keeper.lost?.message ?? "lease lost";
    log.warn("crawl stopped: lease lost; checkpoint not written", { epoch, tasks_queued: counts.tasksQueued });
    return { status: "lease_lost", reason, ...counts };
  }
  const progress: CrawlProgress = {
    complete: !stop.failure && !stop.interrupted,
    done: tally.done.items(),
    maxModified: tally.untimedNewest,
    enqueuedCount: tally.enqueuedCount,
    crawlSeconds: (performance.now() - started) / 1000,
    floor: checkpoint ? undefined : pythonFrom,
  };
  const checkpointFailure = await saveCheckpoint(deps, key, epoch, progress, keeper, log);
  if (checkpointFailure === "lease_lost") {
    return { status: "lease_lost", reason: keeper.lost?.message ?? "lease lost", ...counts };
  }
  if (stop.failure) return { status: "failed", failure: stop.failure, ...counts };
  if (checkpointFailure) return { status: "failed", failure: { ...failureBase, ...checkpointFailure }, ...counts };
  log.info(stop.interrupted ? "crawl interrupted" : "crawl finished", {
    epoch,
    items_discovered: counts.itemsDiscovered,
    tasks_queued: counts.tasksQueued,
    duration_ms: Math.round(performance.now() - started),
  });
  if (stop.interrupted) {
    return { status: "interrupted", epoch, executorId: run.executorId, reason: stop.interrupted, ...counts };
  }
  return { status: "completed", epoch, executorId: run.executorId, ...counts };
}

/**
 * The crawl loop: lets the input executor list what changed since `from`, skips item versions in `seen` (queued by
 * an earlier crawl), and queues the rest as task messages. Never throws: a failure or interruption is in `stop`.
 */
async function crawlBatches(
  deps: SourceDeps,
  run: CrawlRun,
  from: Date | undefined,
  seen: Set<string>,
  failureBase: Omit<SourceFailure, "kind" | "message">,
): Promise<CrawlTally> {
  const { ctx } = deps;
  const { vault, keeper, drain, log } = run;
  const epoch = keeper.current.epoch;
  const signal = AbortSignal.any([keeper.signal, drain]);
  const tally: CrawlTally = {
    counts: { itemsDiscovered: 0, tasksQueued: 0 },
    done: new DoneItems(),
    untimedNewest: undefined,
    enqueuedCount: 0,
    stop: {},
  };
  const { counts, done } = tally;
  const build = (items: Content[]): TaskMessage =>
    buildTaskMessage({
      pipelineId: vault.pipeline_id,
      pipelineName: run.pipelineName,
      vaultId: vault.id,
      items,
      executedInputExecutor: run.executorId,
      maxRetries: ctx.config.MAX_TASK_RETRIES,
      leaseEpoch: epoch,
    });

  const window = new SendWindow();
  try {
    const runCtx = { executorId: run.executorId, pipelineName: run.pipelineName, signal, logger: log };
    const isDone = (item: Content) => {
      const at = itemTime(item, undefined);
      return at !== undefined && seen.has(itemVersionKey(item.id.unique_id, at));
    };
    for await (const batch of run.instance.crawl(from, runCtx, { isDone })) {
      const fresh: { item: Content; done?: DoneItem }[] = [];
      for (const item of batch.items) {
        const at = itemTime(item, batch.maxModified);
        const version = at ? { key: itemVersionKey(item.id.unique_id, at), lastModified: at } : undefined;
        if (version && seen.has(version.key)) done.add(version); // enqueued by an earlier crawl
        else fresh.push({ item, done: version });
      }
      counts.itemsDiscovered += fresh.length;
      ctx.report.count("items_discovered_total", fresh.length);
      const byItem = new Map(fresh.map((f) => [f.item, f.done]));
      for (const planned of planTaskMessages(fresh.map((f) => f.item), build)) {
        await window.add(async () => {
          await enqueue(deps, planned, log, failureBase);
          counted(tally, planned, byItem, batch.maxModified);
          ctx.report.count("tasks_enqueued_total");
        }, keeper.signal);
      }
      if (drain.aborted) {
        tally.stop = { interrupted: "shutdown" };
        break;
      }
    }
    await window.settle();
  } catch (err) {
    await window.drain();
    if (err instanceof CrawlStop) tally.stop = { failure: err.failure };
    else if (keeper.signal.aborted) tally.stop = { interrupted: "lease lost" };
    else if (drain.aborted) tally.stop = { interrupted: "shutdown" };
    else {
      tally.stop = {
        failure: {
          ...failureBase,
          kind: "crawl_failed",
          message: `crawl of executor '${run.executorId}' failed: ${errorSummary(err)}`,
        },
      };
    }
  }
  return tally;
}

/** Counts a task that was queued: its items are done (the checkpoint may move past them). */
function counted(
  tally: CrawlTally,
  planned: PlannedTask,
  byItem: Map<Content, DoneItem | undefined>,
  batchNewest: Date | undefined,
): void {
  tally.counts.tasksQueued++;
  for (const item of planned.message.payload.content) {
    tally.enqueuedCount++;
    const version = byItem.get(item);
    if (version) tally.done.add(version);
    else if (batchNewest && (!tally.untimedNewest || batchNewest > tally.untimedNewest)) {
      tally.untimedNewest = batchNewest;
    }
  }
}

async function enqueue(
  deps: SourceDeps,
  planned: PlannedTask,
  log: WorkerContext["logger"],
  failureBase: Omit<SourceFailure, "kind" | "message">,
): Promise<void> {
  const task = planned.message.payload;
  try {
    const sent = await sendTaskWithRecord({
      executions: deps.store.executions,
      sender: deps.sender,
      workerId: deps.ctx.workerId,
      claimCheckContainer: deps.ctx.config.CLAIM_CHECK_CONTAINER_NAME,
    }, planned);
    log.debug("task queued", {
      execution_id: task.execution_id,
      task_id: task.task_id,
      items: task.content.length,
      bytes: planned.bytes,
      claim_check: sent.claimCheck?.blob,
    });
  } catch (err) {
    if (!(err instanceof SendTaskError)) throw err;
    if (err.marked?.error) {
      log.error("could not mark the execution failed after a failed send", {
        execution_id: task.execution_id,
        err: err.marked.error,
      });
    }
    throw new CrawlStop({ ...failureBase, kind: "enqueue_failed", message: err.message });
  }
}

/** Confirms the lease, then merges the progress; returns a failure (or "lease_lost") instead of throwing. */
async function saveCheckpoint(
  deps: SourceDeps,
  key: CheckpointKey,
  epoch: number,
  progress: CrawlProgress,
  keeper: LeaseKeeper,
  log: WorkerContext["logger"],
): Promise<"lease_lost" | { kind: "checkpoint_failed"; message: string } | undefined> {
  if (progress.enqueuedCount === 0 && progress.done.length === 0 && !progress.maxModified) return undefined;
  try {
    await keeper.confirm();
    const saved = await deps.checkpoints.record(key, epoch, deps.ctx.workerId, progress);
    log.debug("checkpoint recorded", {
      checkpoint: saved?.doc.checkpoint_timestamp,
      complete: progress.complete,
      epoch,
    });
    if (progress.complete && saved?.timestamp) {
      // Keep a Python worker's checkpoint for this vault in step, so it would not crawl these items again.
      await deps.checkpoints.advancePython(key, saved.timestamp, deps.ctx.workerId).catch((err) =>
        log.warn("could not move the Python worker's checkpoint forward", { err })
      );
    }
    return undefined;
  } catch (err) {
    if (err instanceof LeaseLostError) return "lease_lost";
    if (err instanceof FencedError) {
      deps.ctx.report.count("lease_lost_total");
      log.warn("checkpoint refused: a newer lease holder wrote it", { err, epoch });
      return "lease_lost";
    }
    return { kind: "checkpoint_failed", message: `cannot record the checkpoint: ${errorSummary(err)}` };
  }
}
