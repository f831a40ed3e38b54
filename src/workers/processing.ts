// Processing worker: leased receive from the task queue, run the task's pipeline (minus the input executor the
// source worker already ran), record the execution, delete on success; retry with backoff, poison after
// MAX_TASK_RETRIES deliveries or at once for invalid messages. Drain: stop receiving, finish, release the rest.
import * as v from "valibot";
import type { WorkerContext } from "./context.ts";
import { taskQueues } from "../queue/clients.ts";
import { backoffMs, type LeasedMessage, TaskQueue } from "../queue/task-queue.ts";
import { decodeMessage } from "../queue/decode.ts";
import { type ContentProcessingTask, TaskMessageSchema } from "../queue/envelope.ts";
import { isTransientCosmosError, openCosmosStore } from "../store/cosmos.ts";
import { ExecutionStore } from "../store/executions.ts";
import { PipelineDocSchema, VaultDocSchema } from "../store/documents.ts";
import { type CompiledPipeline, compilePipeline, defaultRegistry, parsePipelineYaml, PipelineError, runPipeline } from "../pipeline/index.ts";
import { blobServiceClient } from "../executors/blob-clients.ts";

class PermanentError extends Error {}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

export async function runProcessingWorker(ctx: WorkerContext): Promise<void> {
  const { config, logger, report } = ctx;
  const queue = new TaskQueue(taskQueues(config), config.QUEUE_VISIBILITY_TIMEOUT_SECONDS, logger);
  const store = await openCosmosStore(config);
  const executions = new ExecutionStore(store.executions);
  const registry = defaultRegistry();
  const cache = new Map<string, { etag: string; exclude: string | null; pipeline: CompiledPipeline }>();
  const inFlight = new Set<Promise<void>>();
  const active = new Set<LeasedMessage>();
  const hardStop = new AbortController();
  let queuesReady = false;
  let outage = false;

  const onRenewal = (ok: boolean, err?: unknown) => {
    report.count(ok ? "lease_renewals_total" : "lease_renewal_failures_total");
    if (!ok) logger.warn("lease renewal failed", { err });
  };

  async function loadPipeline(task: ContentProcessingTask): Promise<CompiledPipeline> {
    let read;
    try {
      read = await store.pipelines.item(task.pipeline_id, task.pipeline_id).read();
    } catch (err) {
      if (isTransientCosmosError(err)) throw err;
      throw new PermanentError(`could not read pipeline ${task.pipeline_id}: ${(err as Error).message}`);
    }
    if (read.statusCode === 404 || !read.resource) throw new PermanentError(`pipeline ${task.pipeline_id} not found`);
    const doc = v.safeParse(PipelineDocSchema, read.resource);
    if (!doc.success) throw new PermanentError(`pipeline ${task.pipeline_id} is malformed: ${doc.issues[0].message}`);
    const exclude = task.executed_input_executor ?? null;
    const key = task.pipeline_id;
    const hit = cache.get(key);
    if (hit && hit.etag === doc.output._etag && hit.exclude === exclude) return hit.pipeline;
    try {
      const def = parsePipelineYaml(doc.output.yaml);
      const pipeline = compilePipeline(def, { registry, deps: { config, logger }, excludeExecutor: exclude });
      cache.set(key, { etag: doc.output._etag ?? "", exclude, pipeline });
      return pipeline;
    } catch (err) {
      if (err instanceof PipelineError) throw new PermanentError(`pipeline ${task.pipeline_id}: ${err.message}`);
      throw err;
    }
  }

  async function saveOutput(vaultId: string | null | undefined): Promise<boolean> {
    if (!vaultId) return false;
    const { resource } = await store.vaults.item(vaultId, vaultId).read();
    const vault = v.safeParse(VaultDocSchema, resource ?? {});
    return vault.success && !!vault.output.save_execution_output;
  }

  async function resolveTask(msg: LeasedMessage): Promise<{ task?: ContentProcessingTask; claim?: { container: string; blob: string }; invalid?: string; executionId?: string }> {
    const decoded = decodeMessage(msg.item.messageText);
    if (decoded.kind === "invalid") return { invalid: decoded.reason, executionId: decoded.executionId };
    if (decoded.kind === "task") return { task: decoded.message.payload };
    const cc = decoded.message.claim_check;
    const blob = blobServiceClient(config).getContainerClient(cc.container).getBlobClient(cc.blob);
    const text = (await blob.downloadToBuffer()).toString("utf8");
    const parsed = v.safeParse(TaskMessageSchema, JSON.parse(text));
    if (!parsed.success) return { invalid: `claim-check blob ${cc.blob} holds an invalid task: ${parsed.issues[0].message}`, executionId: cc.execution_id };
    return { task: parsed.output.payload, claim: cc };
  }

  async function failExecution(task: ContentProcessingTask | undefined, executionId: string | undefined, error: string) {
    if (!task && !executionId) return;
    const t = task ?? ({ execution_id: executionId!, task_id: "", pipeline_id: "", content: [] } as unknown as ContentProcessingTask);
    try {
      await executions.update(t, (doc) => {
        if (doc.status === "completed") return undefined;
        return { ...doc, status: "failed", error, status_message: "Execution failed. View error details.", completed_at: new Date().toISOString(), processing_worker_id: ctx.workerId };
      });
    } catch (err) {
      logger.error("could not mark execution failed", { execution_id: t.execution_id, err });
    }
  }

  async function handle(msg: LeasedMessage): Promise<void> {
    const started = Date.now();
    let task: ContentProcessingTask | undefined;
    const log = logger.child({ message_id: msg.id, dequeue_count: msg.dequeueCount });
    try {
      const resolved = await resolveTask(msg);
      if (resolved.invalid) {
        log.warn("invalid message moved to the poison queue", { reason: resolved.invalid });
        await failExecution(undefined, resolved.executionId, resolved.invalid);
        await msg.poison(resolved.invalid, ctx.workerId);
        report.count("tasks_poisoned_total");
        return;
      }
      task = resolved.task!;
      const tlog = log.child({ task_id: task.task_id, execution_id: task.execution_id, pipeline_id: task.pipeline_id });
      if (msg.dequeueCount > config.MAX_TASK_RETRIES) {
        const reason = `delivered ${msg.dequeueCount} times, more than MAX_TASK_RETRIES=${config.MAX_TASK_RETRIES}`;
        await failExecution(task, undefined, reason);
        await msg.poison(reason, ctx.workerId);
        report.count("tasks_poisoned_total");
        tlog.warn("task moved to the poison queue", { reason });
        return;
      }
      const existing = await executions.read(task.execution_id);
      if (existing?.status === "completed") {
        await msg.delete();
        report.count("tasks_skipped_duplicate_total");
        tlog.info("execution already completed; message acknowledged without re-running");
        return;
      }
      await executions.update(task, (doc) =>
        doc.status === "completed" ? undefined : { ...doc, status: "running", status_message: "Execution is running", started_at: doc.started_at ?? new Date().toISOString(), processing_worker_id: ctx.workerId, error: null }
      );
      const pipeline = await loadPipeline(task);
      const timeout = AbortSignal.timeout(config.TASK_TIMEOUT_SECONDS * 1000);
      const signal = AbortSignal.any([timeout, hardStop.signal]);
      const result = await runPipeline(pipeline, task.content, { signal, logger: tlog });
      if (result.status === "cancelled" && timeout.aborted) result.error = `timed out after ${config.TASK_TIMEOUT_SECONDS} s`;
      if (result.status !== "completed") throw new Error(result.error ?? `pipeline ${result.status}`);
      const full = await saveOutput(task.vault_id);
      const content = full ? result.content : result.content.map((c) => ({ id: c.id }));
      await executions.update(task, (doc) =>
        doc.status === "completed" ? undefined : {
          ...doc,
          status: "completed",
          status_message: "Execution completed",
          completed_at: new Date().toISOString(),
          processing_worker_id: ctx.workerId,
          error: null,
          content,
          number_of_items: result.content.length,
          executor_outputs: result.executor_outputs,
          events: result.events.slice(0, 500),
        }
      );
      await msg.delete();
      if (resolved.claim) {
        await blobServiceClient(config).getContainerClient(resolved.claim.container).deleteBlob(resolved.claim.blob).catch(() => undefined);
      }
      report.count("tasks_processed_total");
      tlog.info("task completed", { duration_ms: Date.now() - started, items: result.content.length });
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      if (hardStop.signal.aborted && !(err instanceof PermanentError)) {
        await msg.release(0).catch(() => undefined);
        return;
      }
      const permanent = err instanceof PermanentError;
      const last = msg.dequeueCount >= config.MAX_TASK_RETRIES;
      if (permanent || last) {
        const reason = permanent ? message : `failed on delivery ${msg.dequeueCount} of ${config.MAX_TASK_RETRIES}: ${message}`;
        await failExecution(task, undefined, message);
        await msg.poison(reason, ctx.workerId).catch((e) => log.error("could not move message to poison queue", { err: e }));
        report.count(permanent ? "tasks_failed_total" : "tasks_poisoned_total");
        log.warn(permanent ? "task failed permanently" : "task failed on its last delivery; moved to poison", { error: message, task_id: task?.task_id, execution_id: task?.execution_id });
        return;
      }
      const delay = backoffMs(msg.dequeueCount, config.RETRY_BASE_DELAY_SECONDS * 1000, config.RETRY_MAX_DELAY_SECONDS * 1000) / 1000;
      if (task) {
        await executions.update(task, (doc) => doc.status === "completed" ? undefined : { ...doc, status: "pending", error: message, status_message: `Attempt ${msg.dequeueCount} failed; retrying in ${Math.round(delay)} s` }).catch(() => undefined);
      }
      await msg.release(delay).catch((e) => log.warn("could not delay the retry; the lease will expire instead", { err: e }));
      report.count("tasks_retried_total");
      log.warn("task failed; will retry", { error: message, retry_in_s: Math.round(delay), task_id: task?.task_id, execution_id: task?.execution_id });
    }
  }

  let idleMs = 0;
  report.setReady(false, "connecting");
  while (!ctx.drain.aborted) {
    try {
      if (!queuesReady) {
        await queue.ensureQueues();
        queuesReady = true;
      }
      const free = config.PROCESSING_CONCURRENCY - active.size;
      if (free <= 0) {
        await Promise.race(inFlight);
        continue;
      }
      const messages = await queue.receive(Math.min(free, config.QUEUE_MAX_MESSAGES), onRenewal);
      report.count("queue_polls_total");
      if (outage) logger.info("queue reachable again");
      outage = false;
      report.setReady(true);
      if (messages.length === 0) {
        report.count("queue_empty_polls_total");
        idleMs = idleMs === 0 ? config.QUEUE_MIN_POLL_INTERVAL_MS : Math.min(idleMs * 2, config.QUEUE_POLL_INTERVAL_SECONDS * 1000);
        await sleep(Math.round(idleMs * (1 + Math.random() * 0.2)), ctx.drain);
        continue;
      }
      idleMs = 0;
      report.count("messages_received_total", messages.length);
      for (const msg of messages) {
        active.add(msg);
        msg.startRenewal();
        const p: Promise<void> = handle(msg).finally(() => {
          active.delete(msg);
          inFlight.delete(p);
          report.setInFlight(active.size);
        });
        inFlight.add(p);
      }
      report.setInFlight(active.size);
    } catch (err) {
      if (!outage) logger.error("queue unreachable; backing off", { err });
      outage = true;
      report.setReady(false, "queue unreachable");
      idleMs = Math.min(Math.max(idleMs * 2, 1000), 30_000);
      await sleep(idleMs, ctx.drain);
    }
  }

  // Drain: in-flight tasks finish within the budget; anything still running is cancelled and made visible at once.
  report.setReady(false, "draining");
  const budget = Math.max(1000, (config.SHUTDOWN_DRAIN_TIMEOUT_SECONDS - 3) * 1000);
  const finished = await Promise.race([Promise.all(inFlight).then(() => true), sleep(budget).then(() => false)]);
  if (!finished) {
    logger.warn("drain budget reached; releasing unfinished messages", { unfinished: active.size });
    hardStop.abort(new Error("worker is shutting down"));
    await Promise.all([...active].map((m) => m.release(0).catch(() => undefined)));
    await Promise.race([Promise.all(inFlight), sleep(2000)]);
  }
  for (const c of cache.values()) await c.pipeline.close().catch(() => undefined);
  store.close();
}
