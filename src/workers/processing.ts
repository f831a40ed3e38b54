// Processing worker: takes content_processing tasks from the queue (consumer.ts: leases, concurrency, polling,
// drain) and runs each task's pipeline without the input executor the source worker already ran.
//
// Per message: decode (invalid → poison at once) → already completed? acknowledge without re-running → more
// deliveries than MAX_TASK_RETRIES? poison → claim-check blob → pipeline document (404 → poison) and vault flag →
// execution running → run under TASK_TIMEOUT_SECONDS → completed + output in one write, delete the message.
// A failed attempt is retried after an exponential delay (via the message's visibility); on its last allowed
// delivery it goes to the poison queue and the execution is marked failed.
import { Buffer } from "node:buffer";
import type { BlobServiceClient } from "@azure/storage-blob";
import type { WorkerContext } from "../model/worker-context.ts";
import type { Logger } from "../log/logger.ts";
import type { Config } from "../config/schema.ts";
import { taskQueues } from "../queue/clients.ts";
import { TaskQueue } from "../queue/task-queue.ts";
import { consume, sleep } from "../queue/consumer.ts";
import type { LeasedMessage } from "../queue/leased-message.ts";
import { retryDelaySeconds } from "../queue/backoff.ts";
import { decodeClaimCheckBlob, decodeMessage } from "../queue/decode.ts";
import { deleteClaimCheck, readClaimCheck } from "../queue/claim-check.ts";
import { storageErrorSummary } from "../queue/errors.ts";
import type { ClaimCheckMessage, ContentProcessingTask } from "../model/task-envelope.ts";
import { type CosmosStore, isTransientCosmosError, openCosmosStore } from "../store/cosmos.ts";
import type { ExecutionDoc } from "../model/documents.ts";
import {
  ExecutionConflictError,
  type ExecutionRef,
  ExecutionStore,
  MalformedExecutionError,
} from "../store/executions.ts";
import { CompiledPipelineCache, type PipelineLease, readPipelineDoc } from "../store/pipelines.ts";
import { readSaveExecutionOutput } from "../store/vaults-read.ts";
import { blobServiceClient } from "../executors/blob-clients.ts";
import {
  compilePipeline,
  defaultRegistry,
  type ExecutorRegistry,
  parsePipelineYaml,
  type PipelineResult,
  runPipeline,
} from "../pipeline/index.ts";

export interface ProcessingWorkerOptions {
  /** Executor types pipelines may use; default: the built-ins. */
  registry?: ExecutorRegistry;
}

/** The task cannot succeed by retrying (missing pipeline, invalid claim-check blob, …): poison it at once. */
class PermanentTaskError extends Error {}

/** Cosmos DB could not be reached: retry the task later; receiving pauses until Cosmos answers again. */
class StoreUnavailableError extends Error {}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** A failure to reach Cosmos (not one of our own errors). */
function isCosmosOutage(err: unknown): boolean {
  if (err instanceof MalformedExecutionError || err instanceof ExecutionConflictError) return false;
  return isTransientCosmosError(err);
}

/** Time the worker gives in-flight tasks after drain starts: the supervisor's budget minus room to release. */
export function taskDrainBudgetMs(config: Config): number {
  const total = config.SHUTDOWN_DRAIN_TIMEOUT_SECONDS * 1000;
  return Math.max(500, total - Math.min(5000, total / 4));
}

/** Aborts on forced stop, lease loss or the task timeout; tells which. */
function attemptSignal(stop: AbortSignal, lost: AbortSignal, timeoutSeconds: number) {
  const controller = new AbortController();
  let timedOut = false;
  const onStop = () => controller.abort(stop.reason);
  const onLost = () => controller.abort(lost.reason);
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`timed out after ${timeoutSeconds} s`));
  }, timeoutSeconds * 1000);
  stop.addEventListener("abort", onStop, { once: true });
  lost.addEventListener("abort", onLost, { once: true });
  if (stop.aborted) onStop();
  if (lost.aborted) onLost();
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    dispose() {
      clearTimeout(timer);
      stop.removeEventListener("abort", onStop);
      lost.removeEventListener("abort", onLost);
    },
  };
}

/** Opens Cosmos, retrying while it is unreachable (one log line per outage). Undefined if drained meanwhile. */
async function openStore(ctx: WorkerContext): Promise<CosmosStore | undefined> {
  let delayMs = 1000;
  let logged = false;
  while (!ctx.drain.aborted) {
    try {
      return await openCosmosStore(ctx.config);
    } catch (err) {
      if (!logged) ctx.logger.error("cosmos db unreachable at start; retrying", { err });
      logged = true;
      ctx.report.setReady(false, "cosmos unreachable");
      await sleep(delayMs, ctx.drain);
      delayMs = Math.min(delayMs * 2, 30_000);
    }
  }
  return undefined;
}

export async function runProcessingWorker(ctx: WorkerContext, opts: ProcessingWorkerOptions = {}): Promise<void> {
  const { config, logger, report, workerId } = ctx;
  report.setReady(false, "starting");
  const opened = await openStore(ctx);
  if (!opened) return;
  const store: CosmosStore = opened;
  const registry = opts.registry ?? defaultRegistry();
  const executions = new ExecutionStore(store.executions, { workerId });
  const pipelines = new CompiledPipelineCache((doc, exclude) =>
    compilePipeline(parsePipelineYaml(doc.yaml), { registry, deps: { config, logger }, excludeExecutor: exclude })
  );
  let blobs: BlobServiceClient | undefined;
  const blobService = () => (blobs ??= blobServiceClient(config));

  const queue = new TaskQueue(taskQueues(config), {
    leaseSeconds: config.QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    listener: {
      renewed: () => report.count("lease_renewals_total"),
      renewalFailed: (message, err, lost) => {
        report.count("lease_renewal_failures_total");
        logger.warn(lost ? "lease on a message lost; its task is abandoned" : "lease renewal failed; retrying sooner", {
          message_id: message.id,
          error: storageErrorSummary(err),
        });
      },
    },
    storeOversized: async (name, text) => {
      const container = blobService().getContainerClient(config.CLAIM_CHECK_CONTAINER_NAME);
      await container.createIfNotExists();
      await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
      return { container: config.CLAIM_CHECK_CONTAINER_NAME, blob: name };
    },
  });

  // Cosmos outage gate: after a task hit an unreachable Cosmos, stop taking messages until it answers again,
  // so an outage does not use up every task's deliveries.
  let cosmosDown: { since: number; delayMs: number } | undefined;
  // Not ready from the first failed call on, also when every slot is busy retrying and no new task asks Cosmos.
  const noteCosmosOutage = (err: unknown) => {
    if (!cosmosDown) {
      logger.error("cosmos db unreachable; pausing task intake", { err });
      cosmosDown = { since: Date.now(), delayMs: 1000 };
    }
    report.setReady(false, "cosmos unreachable");
  };
  const cosmos = async <T>(op: () => Promise<T>, signal?: AbortSignal): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      // An aborted task (timeout, shutdown, lost lease) is not an outage.
      if (signal?.aborted || !isCosmosOutage(err)) throw err;
      noteCosmosOutage(err);
      throw new StoreUnavailableError(`cosmos db unreachable: ${errorText(err)}`);
    }
  };
  const waitForCosmos = async (drain: AbortSignal) => {
    while (cosmosDown && !drain.aborted) {
      const outage = cosmosDown;
      report.setReady(false, "cosmos unreachable");
      await sleep(outage.delayMs, drain);
      try {
        await store.database.read({ abortSignal: AbortSignal.timeout(10_000) });
        logger.info("cosmos db reachable again", { down_ms: Date.now() - outage.since });
        cosmosDown = undefined;
      } catch {
        outage.delayMs = Math.min(outage.delayMs * 2, 30_000);
      }
    }
  };

  const retryDelay = (message: LeasedMessage) =>
    retryDelaySeconds(message.dequeueCount, config.RETRY_BASE_DELAY_SECONDS, config.RETRY_MAX_DELAY_SECONDS);

  async function markFailed(ref: ExecutionRef, error: string, log: Logger, result?: PipelineResult): Promise<void> {
    try {
      await executions.fail(ref, error, result);
    } catch (err) {
      log.error("could not mark the execution failed", { err });
    }
  }

  async function toPoison(
    message: LeasedMessage,
    reason: string,
    meta: { taskId?: string; executionId?: string },
    log: Logger,
  ): Promise<void> {
    try {
      const { outcome } = await queue.poison(message, reason, { workerId, ...meta });
      report.count("tasks_poisoned_total");
      log.warn("message moved to the poison queue", { reason, poison_queue: queue.poisonName, outcome });
    } catch (err) {
      log.error("could not move the message to the poison queue; it will come back", {
        reason,
        error: storageErrorSummary(err),
      });
      await message.retryAfter(retryDelay(message)).catch(() => undefined);
    }
  }

  async function acknowledgeDuplicate(message: LeasedMessage, claim: ClaimCheckMessage | undefined, log: Logger) {
    await message.delete();
    if (claim) await deleteClaimCheck(blobService(), claim, AbortSignal.timeout(30_000)).catch(() => undefined);
    report.count("tasks_skipped_duplicate_total");
    log.info("execution already completed; message acknowledged without re-running");
  }

  async function resolveClaimCheck(claim: ClaimCheckMessage, signal: AbortSignal): Promise<ContentProcessingTask> {
    const read = await readClaimCheck(blobService(), claim, signal);
    const where = `${claim.claim_check.container}/${claim.claim_check.blob}`;
    if (!read.found) throw new PermanentTaskError(`claim-check blob ${where} not found`);
    const decoded = decodeClaimCheckBlob(read.text, claim);
    if (!decoded.ok) throw new PermanentTaskError(decoded.reason);
    return decoded.message.payload;
  }

  async function loadPipeline(task: ContentProcessingTask, signal: AbortSignal): Promise<PipelineLease> {
    const read = await cosmos(() => readPipelineDoc(store.pipelines, task.pipeline_id, signal), signal);
    if (read.kind === "not-found") throw new PermanentTaskError(`pipeline ${task.pipeline_id} not found`);
    if (read.kind === "malformed") {
      throw new PermanentTaskError(`pipeline ${task.pipeline_id} is malformed: ${read.problem}`);
    }
    try {
      return pipelines.acquire(read.doc, task.executed_input_executor ?? null);
    } catch (err) {
      throw new PermanentTaskError(`pipeline ${task.pipeline_id} cannot be compiled: ${errorText(err)}`);
    }
  }

  /** Writes completed + output; keeps trying (the lease is renewed meanwhile) rather than re-running the work. */
  async function recordCompletion(
    task: ContentProcessingTask,
    result: PipelineResult,
    saveFullOutput: boolean,
    running: ExecutionDoc | undefined,
    message: LeasedMessage,
    stop: AbortSignal,
    log: Logger,
  ): Promise<void> {
    const deadline = Date.now() + 120_000;
    let known = running;
    for (let delayMs = 500;; delayMs = Math.min(delayMs * 2, 15_000)) {
      try {
        await executions.complete(task, result, saveFullOutput, known);
        return;
      } catch (err) {
        if (!isTransientCosmosError(err) || Date.now() > deadline || stop.aborted || message.lost.aborted) throw err;
        if (isCosmosOutage(err)) noteCosmosOutage(err);
        known = undefined; // read the record again before the next try
        log.warn("could not record the completed execution yet; retrying", { err, retry_in_ms: delayMs });
        await sleep(delayMs, stop);
      }
    }
  }

  async function onFailure(
    message: LeasedMessage,
    err: unknown,
    ref: ExecutionRef & { taskId?: string },
    stop: AbortSignal,
    log: Logger,
    result?: PipelineResult,
  ): Promise<void> {
    const error = errorText(err);
    report.count("tasks_failed_total");
    if (message.lost.aborted) {
      log.warn("task attempt ended after its lease was lost; another delivery owns it", { error });
      return;
    }
    const permanent = err instanceof PermanentTaskError || err instanceof MalformedExecutionError;
    if (stop.aborted && !permanent) {
      // Forced shutdown: the consumer already made the message visible again.
      if (ref.task) await executions.interrupted(ref.task, "worker shutdown").catch(() => undefined);
      log.warn("task interrupted by shutdown; message queued again", { error });
      return;
    }
    const max = config.MAX_TASK_RETRIES;
    if (permanent || message.dequeueCount >= max) {
      const reason = permanent
        ? error
        : `failed on delivery ${message.dequeueCount} of ${max} (MAX_TASK_RETRIES): ${error}`;
      await markFailed(ref, reason, log, result);
      await toPoison(message, reason, { taskId: ref.taskId, executionId: ref.executionId }, log);
      return;
    }
    const delaySeconds = retryDelay(message);
    if (ref.task && !(err instanceof StoreUnavailableError)) {
      await executions
        .retrying(ref.task, error, { attempt: message.dequeueCount, maxAttempts: max, delaySeconds }, result)
        .catch((e) => log.warn("could not record the failed attempt", { err: e }));
    }
    const outcome = await message.retryAfter(delaySeconds).catch((e) => {
      log.warn("could not set the retry delay; the lease will expire instead", { error: storageErrorSummary(e) });
      return "failed";
    });
    report.count("tasks_retried_total");
    log.warn("task attempt failed; will retry", { error, retry_in_s: delaySeconds, outcome });
  }

  async function handle(message: LeasedMessage, stop: AbortSignal): Promise<void> {
    const started = Date.now();
    let log = logger.child({ message_id: message.id, dequeue_count: message.dequeueCount });
    const decoded = decodeMessage(message.text);
    if (decoded.kind === "invalid") {
      const meta = { taskId: decoded.taskId, executionId: decoded.executionId };
      log = log.child({ task_id: meta.taskId, execution_id: meta.executionId });
      if (meta.executionId) await markFailed({ executionId: meta.executionId }, decoded.reason, log);
      await toPoison(message, decoded.reason, meta, log);
      return;
    }
    const claim = decoded.kind === "claim-check" ? decoded.message : undefined;
    let task = decoded.kind === "task" ? decoded.message.payload : undefined;
    const taskId = task?.task_id ?? claim!.claim_check.task_id;
    const executionId = task?.execution_id ?? claim!.claim_check.execution_id;
    log = log.child({ task_id: taskId, execution_id: executionId, pipeline_id: task?.pipeline_id });
    const attempt = attemptSignal(stop, message.lost, config.TASK_TIMEOUT_SECONDS);
    let pipeline: PipelineLease | undefined;
    let result: PipelineResult | undefined;
    // The pipeline and vault reads start together with the execution read (three round trips in one).
    const early = task && {
      pipeline: loadPipeline(task, attempt.signal),
      saveFullOutput: cosmos(
        () => readSaveExecutionOutput(store.vaults, task!.vault_id, attempt.signal),
        attempt.signal,
      ),
    };
    // Settled later or, when the task ends before using them, only released (see finally).
    early?.pipeline.catch(() => undefined);
    early?.saveFullOutput.catch(() => undefined);
    try {
      const existing = await cosmos(() => executions.read(executionId));
      if (existing?.status === "completed") return await acknowledgeDuplicate(message, claim, log);
      if (message.dequeueCount > config.MAX_TASK_RETRIES) {
        // Checked before running: a task that crashes its worker never reaches the failure path below.
        const reason = `delivered ${message.dequeueCount} times, more than MAX_TASK_RETRIES=${config.MAX_TASK_RETRIES}`;
        await markFailed({ executionId, task }, reason, log);
        return await toPoison(message, reason, { taskId, executionId }, log);
      }
      if (claim) {
        task = await resolveClaimCheck(claim, attempt.signal);
        log = log.child({ pipeline_id: task.pipeline_id });
      }
      const t = task!;
      pipeline = await (early ? early.pipeline : loadPipeline(t, attempt.signal));
      const saveFullOutput = await (early ? early.saveFullOutput : cosmos(
        () => readSaveExecutionOutput(store.vaults, t.vault_id, attempt.signal),
        attempt.signal,
      ));
      const begun = await cosmos(() => executions.begin(t, message.dequeueCount, existing ?? null));
      if (begun.completed) return await acknowledgeDuplicate(message, claim, log);
      result = await runPipeline(pipeline.pipeline, t.content, { signal: attempt.signal, logger: log });
      if (result.status !== "completed") {
        const why = result.status === "cancelled" && attempt.timedOut
          ? `timed out after ${config.TASK_TIMEOUT_SECONDS} s`
          : result.error ?? `pipeline ${result.status}`;
        throw new Error(why);
      }
      await recordCompletion(t, result, saveFullOutput, begun.doc, message, stop, log);
      const outcome = await message.delete();
      if (outcome !== "settled") log.warn("completed, but the message was not ours to delete any more", { outcome });
      if (claim) {
        await deleteClaimCheck(blobService(), claim, AbortSignal.timeout(30_000)).catch((err) =>
          log.warn("could not delete the claim-check blob", { error: storageErrorSummary(err) })
        );
      }
      report.count("tasks_processed_total");
      log.info("task completed", {
        duration_ms: Date.now() - started,
        items_in: t.content.length,
        items_out: result.content.length,
      });
    } catch (err) {
      await onFailure(message, err, { executionId, task, taskId }, stop, log, result);
    } finally {
      attempt.dispose();
      if (pipeline) pipeline.release();
      else early?.pipeline.then((unused) => unused.release(), () => undefined);
    }
  }

  const summary = await consume({
    queue,
    concurrency: config.PROCESSING_CONCURRENCY,
    maxMessages: config.QUEUE_MAX_MESSAGES,
    minPollMs: config.QUEUE_MIN_POLL_INTERVAL_MS,
    maxPollMs: config.QUEUE_POLL_INTERVAL_SECONDS * 1000,
    drain: ctx.drain,
    drainBudgetMs: taskDrainBudgetMs(config),
    logger,
    handle,
    beforeReceive: waitForCosmos,
    retryDelaySeconds: retryDelay,
    hooks: {
      polled: (received) => {
        report.count("queue_polls_total");
        if (received === 0) report.count("queue_empty_polls_total");
        else report.count("messages_received_total", received);
      },
      ready: (ready, reason) => report.setReady(ready, reason),
      inFlight: (count) => report.setInFlight(count),
    },
  });
  logger.info("processing worker stopped", { received: summary.received, released_on_drain: summary.releasedOnDrain });
  await pipelines.closeAll();
  store.close();
}
