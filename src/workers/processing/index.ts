// Processing worker: takes content_processing tasks from the queue (queue/consumer.ts: holds, concurrency,
// polling, drain) and runs each task's pipeline without the input executor the source worker already ran.
//
// This file wires the parts together: Cosmos DB (opened with retries), the task queue, the Cosmos outage gate that
// pauses receiving while Cosmos is unreachable, and the per-message handler (handle-task.ts), whose failed attempts
// go through the failure policy (failure-policy.ts).
import { Buffer } from "node:buffer";
import type { BlobServiceClient } from "@azure/storage-blob";
import type { WorkerContext } from "../../model/worker-context.ts";
import type { Config } from "../../config/schema.ts";
import { OutageGate } from "../../util/outage-gate.ts";
import { describeDependencyError } from "../../util/dependency-error.ts";
import { sleep } from "../../util/sleep.ts";
import { taskQueues } from "../../queue/clients.ts";
import { TaskQueue } from "../../queue/task-queue.ts";
import { consume } from "../../queue/consumer.ts";
import { claimCheckAccess } from "../../queue/claim-check.ts";
import { storageErrorSummary } from "../../queue/errors.ts";
import { type CosmosStore, openCosmosStore } from "../../store/cosmos.ts";
import { ExecutionStore } from "../../store/executions.ts";
import { CompiledPipelineCache, readPipelineDoc } from "../../store/pipelines.ts";
import { readSaveExecutionOutput } from "../../store/vaults-read.ts";
import { DocumentCache } from "../../store/doc-cache.ts";
import type { PipelineDoc, VaultDoc } from "../../model/documents.ts";
import { blobServiceClient } from "../../executors/blob-clients.ts";
import { closeSharedBrowser } from "../../executors/browser.ts";
import { compilePipeline, defaultRegistry, type ExecutorRegistry, parsePipelineYaml } from "../../pipeline/index.ts";
import { TaskHandler } from "./handle-task.ts";
import { startTelemetry } from "../../telemetry/index.ts";
import { telemetryPlan } from "../../telemetry/plan.ts";
import { taskSpanAttributes } from "../../telemetry/task-span.ts";
import { taskTraceContext } from "./trace-context.ts";
import { buildInfo } from "../../runtime/build-info.ts";

export interface ProcessingWorkerOptions {
  /** Executor types pipelines may use; default: the built-ins. */
  registry?: ExecutorRegistry;
}

/** Waits between looks at an unreachable Cosmos DB: from 1 s, doubling, at most 30 s. */
const COSMOS_RETRY = { firstDelayMs: 1000, maxDelayMs: 30_000 };
const COSMOS_PROBE_TIMEOUT_MS = 10_000;

/**
 * How long a pipeline or vault document read for one task is reused for the next ones: a change made in Cosmos
 * reaches tasks that start at most this long after it (docs/pipelines.md).
 */
export const DOCUMENT_CACHE_MS = 10_000;

/**
 * Time the worker gives in-flight tasks after drain starts: the supervisor's budget minus room to hand unfinished
 * messages back (a quarter of the budget, at least 1 s and at most 5 s; a loaded machine needed more than the 750 ms
 * a quarter of a 3 s budget left).
 */
export function taskDrainBudgetMs(config: Config): number {
  const total = config.SHUTDOWN_DRAIN_TIMEOUT_SECONDS * 1000;
  return Math.max(500, total - Math.min(5000, Math.max(1000, total / 4)));
}

/** The readiness reason for a failed Cosmos DB call: service, endpoint and kind (src/util/dependency-error.ts). */
function cosmosReason(config: Config, err: unknown): string {
  return describeDependencyError(err, { service: "Cosmos DB", endpoint: config.COSMOS_DB_ENDPOINT || undefined }).text;
}

/** Opens Cosmos, retrying while it is unreachable (one log line per outage). Undefined if drained meanwhile. */
async function openStore(ctx: WorkerContext): Promise<CosmosStore | undefined> {
  const gate = new OutageGate({
    ...COSMOS_RETRY,
    listener: {
      down: (err) => ctx.logger.error("cosmos db unreachable at start; retrying", { err }),
      failed: (err) => ctx.report.setReady(false, cosmosReason(ctx.config, err)),
    },
  });
  while (!ctx.drain.aborted) {
    try {
      return await openCosmosStore(ctx.config);
    } catch (err) {
      gate.noteFailure(err);
      await sleep(gate.nextDelayMs(), ctx.drain);
    }
  }
  return undefined;
}

/**
 * The task queue of a processing worker: holds counted and logged as they are renewed, expire or are lost, and tasks
 * too large for a message stored as claim-check blobs (when the worker sends one back, e.g. to the poison queue).
 */
function taskQueueOf(
  ctx: WorkerContext,
  report: WorkerContext["report"],
  blobService: () => BlobServiceClient,
): TaskQueue {
  const { config, logger } = ctx;
  return new TaskQueue(taskQueues(config), {
    holdSeconds: config.QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    listener: {
      renewed: () => report.count("lease_renewals_total"),
      expired: (message) => {
        report.count("leases_expired_total");
        logger.warn("lease about to run out without a successful renewal; the task is abandoned", {
          message_id: message.id,
        });
      },
      renewalFailed: (message, err, lost) => {
        report.count("lease_renewal_failures_total");
        if (lost) report.count("leases_lost_total");
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
}

/** Telemetry of this worker process (a no-op unless APPLICATIONINSIGHTS_CONNECTION_STRING or an OTLP endpoint). */
function startWorkerTelemetry(ctx: WorkerContext) {
  return startTelemetry(telemetryPlan(ctx.config), {
    role: "processing",
    workerId: ctx.workerId,
    version: buildInfo().version,
    logger: ctx.logger,
    dropsTo: ctx.report,
  });
}

export async function runProcessingWorker(ctx: WorkerContext, opts: ProcessingWorkerOptions = {}): Promise<void> {
  const { config, logger, workerId } = ctx;
  const telemetry = await startWorkerTelemetry(ctx);
  // Counters also as OpenTelemetry metrics when telemetry is on.
  const report = telemetry.metered(ctx.report);
  report.setReady(false, "starting");
  const store = await openStore(ctx);
  if (!store) return await telemetry.shutdown(1000);
  const registry = opts.registry ?? defaultRegistry();
  const pipelines = new CompiledPipelineCache((doc, exclude) =>
    compilePipeline(parsePipelineYaml(doc.yaml), { registry, deps: { config, logger }, excludeExecutor: exclude })
  );
  let blobs: BlobServiceClient | undefined;
  const blobService = () => (blobs ??= blobServiceClient(config));

  const queue = taskQueueOf(ctx, report, blobService);

  // After a task met an unreachable Cosmos, stop taking messages until it answers again, so an outage does not use
  // up every task's deliveries. Not ready from the first failed call on, also when every slot is busy retrying its
  // completion and no new task asks Cosmos.
  let cosmosDown = "Cosmos DB unreachable";
  const cosmosGate = new OutageGate({
    ...COSMOS_RETRY,
    listener: {
      down: (err) => logger.error("cosmos db unreachable; pausing task intake", { err }),
      failed: (err) => report.setReady(false, cosmosDown = cosmosReason(config, err)),
      up: (downMs) => logger.info("cosmos db reachable again", { down_ms: downMs }),
    },
  });
  const waitForCosmos = async (drain: AbortSignal) => {
    if (!cosmosGate.isDown) return;
    report.setReady(false, cosmosDown);
    await cosmosGate.waitUntilUp(
      () => store.database.read({ abortSignal: AbortSignal.timeout(COSMOS_PROBE_TIMEOUT_MS) }),
      drain,
    );
  };

  const pipelineDocs = new DocumentCache<PipelineDoc>(DOCUMENT_CACHE_MS);
  const vaultDocs = new DocumentCache<VaultDoc>(DOCUMENT_CACHE_MS);
  const handler = new TaskHandler({
    settings: {
      maxFailures: config.MAX_TASK_RETRIES,
      taskTimeoutSeconds: config.TASK_TIMEOUT_SECONDS,
      retryBaseDelaySeconds: config.RETRY_BASE_DELAY_SECONDS,
      retryMaxDelaySeconds: config.RETRY_MAX_DELAY_SECONDS,
    },
    workerId,
    logger,
    report,
    records: new ExecutionStore(store.executions, { workerId }),
    documents: {
      readPipeline: (id, signal) => pipelineDocs.read(id, () => readPipelineDoc(store.pipelines, id, signal)),
      readSaveExecutionOutput: (vaultId, signal) =>
        readSaveExecutionOutput(store.vaults, vaultId, signal, (id, load) => vaultDocs.read(id, load)),
    },
    pipelines,
    claimChecks: claimCheckAccess(blobService, {
      container: config.CLAIM_CHECK_CONTAINER_NAME,
      maxBytes: config.MAX_CLAIM_CHECK_BYTES,
    }),
    poisonQueue: queue,
    cosmosGate,
  });

  const summary = await consume({
    queue,
    concurrency: config.PROCESSING_CONCURRENCY,
    maxMessages: config.QUEUE_MAX_MESSAGES,
    minPollMs: config.QUEUE_MIN_POLL_INTERVAL_MS,
    maxPollMs: config.QUEUE_POLL_INTERVAL_SECONDS * 1000,
    drain: ctx.drain,
    drainBudgetMs: taskDrainBudgetMs(config),
    logger,
    handle: (message, stop) => {
      if (!telemetry.enabled) return handler.handle(message, stop);
      const { traceparent, attributes } = taskTraceContext(message.text);
      const span = { ...taskSpanAttributes(message, Date.now()), ...attributes };
      return telemetry.span("contentflow.task", span, () => handler.handle(message, stop), traceparent);
    },
    beforeReceive: waitForCosmos,
    paused: () => cosmosGate.isDown,
    retryDelaySeconds: (message) => handler.retryDelaySeconds(message),
    onWake: ctx.onWake,
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
  logger.info("processing worker stopped", {
    received: summary.received,
    released_on_drain: summary.releasedOnDrain,
    released_unstarted: summary.releasedUnstarted,
  });
  await pipelines.closeAll();
  await closeSharedBrowser(); // web_scraper render_js: true pages; nothing runs any more
  store.close();
  // Within what is left of the drain budget after the tasks' share (taskDrainBudgetMs), at most 2 s.
  await telemetry.shutdown(Math.min(2000, config.SHUTDOWN_DRAIN_TIMEOUT_SECONDS * 1000 - taskDrainBudgetMs(config)));
}
