// One queue message of the processing worker, from receipt to settlement:
// decode (invalid → poison at once) → already completed? acknowledge without re-running → retry budget spent?
// poison → claim-check blob → pipeline document (404 → poison) and vault flag → its turn to run (alone, when an
// earlier run never ended: run-gate.ts) → execution running (a run of an earlier delivery that never ended counts
// as an interruption, not a failure) → run under TASK_TIMEOUT_SECONDS → completed + output in one write, only while
// this delivery still owns the record and holds the message → delete the message.
// A failed attempt goes through the failure policy (failure-policy.ts) and its action is carried out here.
//
// Everything it talks to is injected (TaskHandlerDeps), so the worker wiring (index.ts) decides which store and
// queue it uses.
import type { Logger } from "../../log/logger.ts";
import type { WorkerReporter } from "../../model/worker-context.ts";
import type { ClaimCheckMessage, ContentProcessingTask } from "../../model/task-envelope.ts";
import type { ExecutionDoc } from "../../model/documents.ts";
import type { OutageGate } from "../../util/outage-gate.ts";
import { sleep } from "../../util/sleep.ts";
import { errorText } from "../../util/errors.ts";
import type { HeldMessage, SettleOutcome } from "../../queue/held-message.ts";
import type { PoisonMeta, PoisonResult } from "../../queue/task-queue.ts";
import type { ClaimCheckRead } from "../../queue/claim-check.ts";
import { retryDelaySeconds } from "../../queue/backoff.ts";
import { decodeClaimCheckBlob, type DecodedMessage, decodeMessage } from "../../queue/decode.ts";
import { storageErrorSummary } from "../../queue/errors.ts";
import { isTransientCosmosError } from "../../store/cosmos.ts";
import {
  ExecutionConflictError,
  type ExecutionRef,
  type ExecutionStore,
  MalformedExecutionError,
} from "../../store/executions.ts";
import type { CompiledPipelineCache, PipelineHandle, PipelineRead } from "../../store/pipelines.ts";
import { type PipelineResult, runPipeline } from "../../pipeline/index.ts";
import { attemptSignal } from "./attempt-signal.ts";
import { HoldGoneError, PermanentTaskError, StoreUnavailableError, TaskRunError } from "./errors.ts";
import { redriveSuperseded } from "../../store/redrive.ts";
import { decideDelivery, decideFailure, decideStart, type FailureAction, runsAlone } from "./failure-policy.ts";
import { RunGate } from "./run-gate.ts";
import { annotateSpan } from "../../telemetry/index.ts";
import { taskIdentityAttributes } from "../../telemetry/task-span.ts";

/** The settings a task attempt needs. */
export interface TaskSettings {
  /** MAX_TASK_RETRIES: the failed runs a task may have (its retry budget, counted in the execution record). */
  maxFailures: number;
  taskTimeoutSeconds: number;
  retryBaseDelaySeconds: number;
  retryMaxDelaySeconds: number;
}

/** The execution record writes of a task (ExecutionStore). */
export type ExecutionRecords = Pick<
  ExecutionStore,
  "read" | "begin" | "complete" | "fail" | "runFailed" | "interrupted"
>;

/** Cosmos reads a task needs besides its execution record. */
export interface TaskDocuments {
  readPipeline(pipelineId: string, signal: AbortSignal): Promise<PipelineRead>;
  /** The vault's save_execution_output flag (false without a vault). */
  readSaveExecutionOutput(vaultId: string | null | undefined, signal: AbortSignal): Promise<boolean>;
}

/** Claim-check blobs of oversized tasks. */
export interface ClaimChecks {
  read(claim: ClaimCheckMessage, signal: AbortSignal): Promise<ClaimCheckRead>;
  delete(claim: ClaimCheckMessage, signal: AbortSignal): Promise<void>;
}

/** Where messages that cannot succeed go (TaskQueue). */
export interface PoisonQueue {
  readonly poisonName: string;
  poison(message: HeldMessage, reason: string, meta: PoisonMeta): Promise<PoisonResult>;
}

export interface TaskHandlerDeps {
  settings: TaskSettings;
  workerId: string;
  logger: Logger;
  report: WorkerReporter;
  records: ExecutionRecords;
  documents: TaskDocuments;
  pipelines: CompiledPipelineCache;
  claimChecks: ClaimChecks;
  poisonQueue: PoisonQueue;
  /** Noted on every Cosmos outage a task meets; the worker stops receiving while it is down. */
  cosmosGate: OutageGate;
}

interface TaskIds extends ExecutionRef {
  taskId?: string;
  /** This delivery set the record running. */
  begun: boolean;
}

type InvalidMessage = Extract<DecodedMessage, { kind: "invalid" }>;

/** A pipeline run that completed, with what recording it needs. */
interface CompletedRun {
  task: ContentProcessingTask;
  /** How many items the task brought (its content list is the pipeline's to change). */
  itemsIn: number;
  result: PipelineResult;
  saveFullOutput: boolean;
  /** The record as this delivery set it running. */
  running: ExecutionDoc | undefined;
  claim: ClaimCheckMessage | undefined;
  startedAt: number;
}

/** How long completing a record may keep retrying a passing Cosmos error (other than an outage: while Cosmos is
 * unreachable it keeps trying as long as the message is held) before the attempt ends. */
const COMPLETION_RETRY_MS = 120_000;
const CLAIM_CHECK_DELETE_TIMEOUT_MS = 30_000;

/** A failure to reach Cosmos (not one of our own errors). */
function isCosmosOutage(err: unknown): boolean {
  if (err instanceof MalformedExecutionError || err instanceof ExecutionConflictError) return false;
  return isTransientCosmosError(err);
}

export class TaskHandler {
  /** Tasks run side by side, except one whose earlier run never ended: it runs alone. */
  readonly runGate = new RunGate();

  constructor(private readonly deps: TaskHandlerDeps) {}

  /** Visibility delay of a failed attempt, from its delivery number (exponential, with jitter). */
  retryDelaySeconds(message: HeldMessage): number {
    const { retryBaseDelaySeconds, retryMaxDelaySeconds } = this.deps.settings;
    return retryDelaySeconds(message.dequeueCount, retryBaseDelaySeconds, retryMaxDelaySeconds);
  }

  /** Runs one message and settles it. `stop` aborts when the worker must stop at once. */
  async handle(message: HeldMessage, stop: AbortSignal): Promise<void> {
    const { deps } = this;
    const startedAt = Date.now();
    let log = deps.logger.child({ message_id: message.id, dequeue_count: message.dequeueCount });
    const decoded = decodeMessage(message.text);
    if (decoded.kind === "invalid") return await this.rejectInvalid(message, decoded, log);
    const claim = decoded.kind === "claim-check" ? decoded.message : undefined;
    let task = decoded.kind === "task" ? decoded.message.payload : undefined;
    const taskId = task?.task_id ?? claim!.claim_check.task_id;
    const executionId = task?.execution_id ?? claim!.claim_check.execution_id;
    log = log.child({ task_id: taskId, execution_id: executionId, pipeline_id: task?.pipeline_id });
    let attempt = attemptSignal(stop, message.lost, deps.settings.taskTimeoutSeconds);
    let releaseTurn: (() => void) | undefined;
    let pipeline: PipelineHandle | undefined;
    let result: PipelineResult | undefined;
    let begun = false;
    // The pipeline and vault reads start together with the execution read (three round trips in one).
    const early = task && {
      pipeline: this.loadPipeline(task, attempt.signal),
      saveFullOutput: this.readSaveFullOutput(task, attempt.signal),
    };
    // Settled later or, when the task ends before using them, only released (see finally).
    early?.pipeline.catch(() => undefined);
    early?.saveFullOutput.catch(() => undefined);
    try {
      const existing = await this.cosmos(() => deps.records.read(executionId));
      const delivery = decideDelivery({
        recordStatus: existing?.status,
        recordFailures: existing?.task_failures ?? 0,
        recordInterruptions: existing?.interruptions ?? 0,
        delivery: message.dequeueCount,
        maxFailures: deps.settings.maxFailures,
        supersededByRedrive: redriveSuperseded(task?.redrive_id ?? claim?.claim_check.redrive_id, existing),
      });
      if (delivery.kind === "acknowledge-duplicate") return await this.acknowledgeDuplicate(message, claim, log);
      if (delivery.kind === "acknowledge-superseded") {
        await this.deleteMessage(message, log);
        deps.report.count("tasks_skipped_duplicate_total");
        return log.info("a later re-drive replaced this message; acknowledged without running");
      }
      if (delivery.kind === "fail") {
        if (delivery.markRecord) await this.markFailed({ executionId, task }, delivery.reason, log);
        return await this.toPoison(message, delivery.reason, { taskId, executionId }, log);
      }
      if (claim) {
        task = await this.resolveClaimCheck(claim, attempt.signal);
        log = log.child({ pipeline_id: task.pipeline_id });
      }
      const t = task!;
      pipeline = await (early ? early.pipeline : this.loadPipeline(t, attempt.signal));
      const saveFullOutput = await (early ? early.saveFullOutput : this.readSaveFullOutput(t, attempt.signal));
      const alone = runsAlone(existing, message.dequeueCount);
      if (alone) log.warn("an earlier run of this task never ended (its worker stopped); it runs alone in this worker");
      releaseTurn = await this.runGate.acquire(alone, AbortSignal.any([stop, message.lost]));
      // The task's time starts with its turn: waiting for others to finish is not its run.
      attempt.dispose();
      attempt = attemptSignal(stop, message.lost, deps.settings.taskTimeoutSeconds);
      const { maxFailures } = deps.settings;
      const started = await this.cosmosWhileHeld(
        (known) => deps.records.begin(t, message.dequeueCount, known, (doc, n) => decideStart(doc, n, maxFailures)),
        existing ?? null,
        message,
        stop,
      );
      if (started.completed) return await this.acknowledgeDuplicate(message, claim, log);
      if (started.exhausted) {
        // Its budget is spent, or its worker stopped under it too often in a row; the record is failed already.
        return await this.toPoison(message, started.exhausted, { taskId, executionId }, log);
      }
      begun = true;
      // Handed over: the executors may change the task's items. Only a record deleted since `begin` is made
      // again from them (their identifiers as the executors left them; a completed write replaces that content).
      const itemsIn = t.content.length;
      result = await runPipeline(pipeline.pipeline, t.content, {
        signal: attempt.signal,
        logger: log,
        inputHandedOver: true,
      });
      releaseTurn();
      if (result.status !== "completed") {
        if (message.lost.aborted || stop.aborted) throw attempt.signal.reason ?? new Error(`pipeline ${result.status}`);
        const why = result.status === "cancelled" && attempt.timedOut
          ? `timed out after ${deps.settings.taskTimeoutSeconds} s`
          : result.error ?? `pipeline ${result.status}`;
        throw new TaskRunError(why);
      }
      const run = { task: t, itemsIn, result, saveFullOutput, running: started.doc, claim, startedAt };
      await this.settleCompleted(run, message, stop, log);
    } catch (err) {
      await this.onFailure(message, err, { executionId, task, taskId, begun }, stop, log, result);
    } finally {
      releaseTurn?.();
      attempt.dispose();
      if (pipeline) pipeline.release();
      else early?.pipeline.then((unused) => unused.release(), () => undefined);
    }
  }

  /** A message that does not decode goes to the poison queue at once (its execution, when named, is failed). */
  private async rejectInvalid(message: HeldMessage, decoded: InvalidMessage, log: Logger): Promise<void> {
    const meta = { taskId: decoded.taskId, executionId: decoded.executionId };
    log = log.child({ task_id: meta.taskId, execution_id: meta.executionId });
    if (meta.executionId) await this.markFailed({ executionId: meta.executionId }, decoded.reason, log);
    await this.toPoison(message, decoded.reason, meta, log);
  }

  /**
   * A run that completed: records it, then deletes its message (and claim-check blob). When another delivery owns
   * the execution now, the result is dropped.
   */
  private async settleCompleted(run: CompletedRun, message: HeldMessage, stop: AbortSignal, log: Logger) {
    const { deps } = this;
    const { task, itemsIn, result, claim, startedAt } = run;
    const recorded = await this.recordCompletion(task, result, run.saveFullOutput, run.running, message, stop, log);
    if (recorded === "superseded") {
      deps.report.count("tasks_superseded_total");
      return log.warn("task finished, but another delivery owns its execution now; result dropped", {
        duration_ms: Date.now() - startedAt,
      });
    }
    const outcome = await this.deleteMessage(message, log);
    if (outcome !== "settled") log.warn("completed, but the message was not ours to delete any more", { outcome });
    if (claim && outcome === "settled") {
      await deps.claimChecks.delete(claim, AbortSignal.timeout(CLAIM_CHECK_DELETE_TIMEOUT_MS)).catch((err) =>
        log.warn("could not delete the claim-check blob", { error: storageErrorSummary(err) })
      );
    }
    deps.report.count("tasks_processed_total");
    log.info("task completed", {
      duration_ms: Date.now() - startedAt,
      items_in: itemsIn,
      items_out: result.content.length,
    });
  }

  /** Runs a Cosmos call; an outage is noted on the gate and becomes a StoreUnavailableError. */
  private async cosmos<T>(op: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await op();
    } catch (err) {
      // An aborted task (timeout, shutdown, lost hold) is not an outage.
      if (signal?.aborted || !isCosmosOutage(err)) throw err;
      this.deps.cosmosGate.noteFailure(err);
      throw new StoreUnavailableError(`cosmos db unreachable: ${errorText(err)}`, { cause: err });
    }
  }

  /**
   * A record write that must not cost the delivery: while Cosmos is unreachable it is tried again (the record read
   * afresh) for as long as this delivery holds its message and the worker is not stopping. A write whose answer was
   * lost in an outage is so retried by the same delivery, instead of looking like a dead run to the next one.
   */
  private async cosmosWhileHeld<T>(
    op: (known: ExecutionDoc | null | undefined) => Promise<T>,
    known: ExecutionDoc | null,
    message: HeldMessage,
    stop: AbortSignal,
  ): Promise<T> {
    let first = true;
    for (let delayMs = 1000;; delayMs = Math.min(delayMs * 2, 15_000)) {
      try {
        return await this.cosmos(() => op(first ? known : undefined));
      } catch (err) {
        if (!(err instanceof StoreUnavailableError) || stop.aborted || !message.held) throw err;
        first = false;
        this.deps.logger.warn("cosmos db unreachable while starting a task; trying again", {
          message_id: message.id,
          retry_in_ms: delayMs,
        });
        await sleep(delayMs, stop);
      }
    }
  }

  private readSaveFullOutput(task: ContentProcessingTask, signal: AbortSignal): Promise<boolean> {
    return this.cosmos(() => this.deps.documents.readSaveExecutionOutput(task.vault_id, signal), signal);
  }

  private async loadPipeline(task: ContentProcessingTask, signal: AbortSignal): Promise<PipelineHandle> {
    const read = await this.cosmos(() => this.deps.documents.readPipeline(task.pipeline_id, signal), signal);
    if (read.kind === "not-found") throw new PermanentTaskError(`pipeline ${task.pipeline_id} not found`);
    if (read.kind === "malformed") {
      throw new PermanentTaskError(`pipeline ${task.pipeline_id} is malformed: ${read.problem}`);
    }
    try {
      return this.deps.pipelines.acquire(read.doc, task.executed_input_executor ?? null);
    } catch (err) {
      throw new PermanentTaskError(`pipeline ${task.pipeline_id} cannot be compiled: ${errorText(err)}`);
    }
  }

  private async resolveClaimCheck(claim: ClaimCheckMessage, signal: AbortSignal): Promise<ContentProcessingTask> {
    const read = await this.deps.claimChecks.read(claim, signal);
    const where = `${claim.claim_check.container}/${claim.claim_check.blob}`;
    if (!read.found) throw new PermanentTaskError(read.problem ?? `claim-check blob ${where} not found`);
    const decoded = decodeClaimCheckBlob(read.text, claim);
    if (!decoded.ok) throw new PermanentTaskError(decoded.reason);
    // A re-driven claim-check task carries its re-drive id in the pointer (the blob is the original task).
    const redriveId = claim.claim_check.redrive_id ?? decoded.message.payload.redrive_id;
    annotateSpan(taskIdentityAttributes(decoded.message.payload)); // the task span learns its pipeline and vault
    return { ...decoded.message.payload, ...(redriveId ? { redrive_id: redriveId } : {}) };
  }

  /**
   * Deletes a message whose task needs nothing more. A delete that fails is only logged: the task is done, and the
   * message comes back after its hold to be acknowledged as a duplicate — not a failure of the task.
   */
  private async deleteMessage(message: HeldMessage, log: Logger): Promise<SettleOutcome | "failed"> {
    try {
      return await message.delete();
    } catch (err) {
      this.deps.report.count("message_delete_failures_total");
      log.warn("could not delete the message of a finished task; it will come back and be acknowledged then", {
        error: storageErrorSummary(err),
      });
      return "failed";
    }
  }

  private async acknowledgeDuplicate(message: HeldMessage, claim: ClaimCheckMessage | undefined, log: Logger) {
    const outcome = await this.deleteMessage(message, log);
    if (claim && outcome === "settled") {
      await this.deps.claimChecks.delete(claim, AbortSignal.timeout(CLAIM_CHECK_DELETE_TIMEOUT_MS)).catch(() =>
        undefined
      );
    }
    this.deps.report.count("tasks_skipped_duplicate_total");
    log.info("execution already completed; message acknowledged without re-running");
  }

  /**
   * Writes completed + output; keeps trying (the hold is renewed meanwhile) rather than re-running the work: while
   * Cosmos is unreachable for as long as the message is held, other passing errors for COMPLETION_RETRY_MS. Nothing is
   * written once the hold is no longer safely ours, nor when the record names another delivery ("superseded").
   */
  private async recordCompletion(
    task: ContentProcessingTask,
    result: PipelineResult,
    saveFullOutput: boolean,
    running: ExecutionDoc | undefined,
    message: HeldMessage,
    stop: AbortSignal,
    log: Logger,
  ): Promise<"completed" | "superseded"> {
    const deadline = Date.now() + COMPLETION_RETRY_MS;
    let known = running;
    for (let delayMs = 500;; delayMs = Math.min(delayMs * 2, 15_000)) {
      if (!message.held) throw new HoldGoneError("the lease ran out before the result was recorded");
      try {
        const written = await this.deps.records.complete(task, result, saveFullOutput, known, message.dequeueCount);
        return written.superseded ? "superseded" : "completed";
      } catch (err) {
        const outage = isCosmosOutage(err);
        if (!isTransientCosmosError(err) || stop.aborted || message.lost.aborted) throw err;
        if (!outage && Date.now() > deadline) throw err;
        if (outage) this.deps.cosmosGate.noteFailure(err);
        known = undefined; // read the record again before the next try
        log.warn("could not record the completed execution yet; retrying", { err, retry_in_ms: delayMs });
        await sleep(delayMs, stop);
      }
    }
  }

  private async markFailed(ref: ExecutionRef, error: string, log: Logger, result?: PipelineResult): Promise<void> {
    try {
      await this.deps.records.fail(ref, error, result);
    } catch (err) {
      log.error("could not mark the execution failed", { err });
    }
  }

  private async toPoison(message: HeldMessage, reason: string, ids: Omit<PoisonMeta, "workerId">, log: Logger) {
    const { deps } = this;
    try {
      const { outcome } = await deps.poisonQueue.poison(message, reason, { workerId: deps.workerId, ...ids });
      deps.report.count("tasks_poisoned_total");
      log.warn("message moved to the poison queue", { reason, poison_queue: deps.poisonQueue.poisonName, outcome });
    } catch (err) {
      log.error("could not move the message to the poison queue; it will come back", {
        reason,
        error: storageErrorSummary(err),
      });
      await message.retryAfter(this.retryDelaySeconds(message)).catch(() => undefined);
    }
  }

  /** Decides what a failed attempt leads to (failure-policy.ts) and does it. */
  private async onFailure(
    message: HeldMessage,
    err: unknown,
    ids: TaskIds,
    stop: AbortSignal,
    log: Logger,
    result?: PipelineResult,
  ): Promise<void> {
    const { deps } = this;
    const error = errorText(err);
    const attempt = message.dequeueCount;
    const action: FailureAction = decideFailure({
      error,
      holdLost: message.lost.aborted || err instanceof HoldGoneError || (!message.settled && !message.held),
      stopping: stop.aborted,
      permanent: err instanceof PermanentTaskError || err instanceof MalformedExecutionError,
      taskFailure: err instanceof TaskRunError,
      storeUnavailable: err instanceof StoreUnavailableError,
      begun: ids.begun,
      retryDelaySeconds: this.retryDelaySeconds(message),
    });
    const release = async (why: string) => {
      if (!ids.task) return;
      await deps.records.interrupted(ids.task, why, attempt).catch((e) =>
        log.warn("could not set the execution back to pending", { err: e })
      );
    };
    const retryLater = async (delaySeconds: number, what: string) => {
      const outcome = await message.retryAfter(delaySeconds).catch((e) => {
        log.warn("could not set the retry delay; the lease will expire instead", { error: storageErrorSummary(e) });
        return "failed";
      });
      deps.report.count("tasks_retried_total");
      log.warn(what, { error, retry_in_s: delaySeconds, outcome });
    };
    switch (action.kind) {
      case "abandon":
        deps.report.count("tasks_abandoned_total");
        if (action.releaseRecord) await release("its lease ran out");
        log.warn("task attempt ended after its lease was lost; another delivery owns it", { error });
        return;
      case "interrupted":
        if (action.recordInterruption) await release("worker shutdown");
        log.warn("task interrupted by shutdown; message queued again", { error });
        return;
      case "fail":
        deps.report.count("tasks_failed_total");
        await this.markFailed(ids, action.reason, log, result);
        await this.toPoison(message, action.reason, { taskId: ids.taskId, executionId: ids.executionId }, log);
        return;
      case "count-failure": {
        const { delaySeconds } = action;
        deps.report.count("tasks_failed_total");
        let counted;
        try {
          counted = await this.cosmos(() =>
            deps.records.runFailed(
              ids.task!,
              error,
              { attempt, maxFailures: deps.settings.maxFailures, delaySeconds },
              result,
            )
          );
        } catch (e) {
          // Not counted (Cosmos is down): the run is retried without spending the budget.
          log.warn("could not record the failed run", { err: e });
          return await retryLater(delaySeconds, "task run failed; will retry (the failure could not be recorded)");
        }
        if (counted.superseded) {
          log.warn("task run failed, but another delivery owns its execution now; left to it", { error });
          return;
        }
        if (counted.final) {
          return await this.toPoison(
            message,
            counted.reason,
            { taskId: ids.taskId, executionId: ids.executionId },
            log,
          );
        }
        return await retryLater(
          delaySeconds,
          `task run failed (${counted.failures} of at most ${deps.settings.maxFailures}); will retry`,
        );
      }
      case "retry":
        if (action.releaseRecord) await release(`attempt ended by: ${error.slice(0, 300)}`);
        return await retryLater(
          action.delaySeconds,
          "task attempt could not finish (not counted as a failure); will retry",
        );
    }
  }
}
