// Crawl failures become `failed` execution records — one per distinct failure of a vault, not one per attempt:
// a repeat of the same failure only increments `occurrences` on the record already written. The state is kept
// in memory per worker process; a restart, or a successful crawl in between, starts a new record.
import type { Container } from "@azure/cosmos";
import type { Logger } from "../../log/logger.ts";
import { countRepeatedFailure, createFailedExecution, type RecordRef } from "../../store/execution-records.ts";

export type FailureKind =
  | "pipeline_missing"
  | "pipeline_invalid"
  | "no_input_executor"
  | "executor_invalid"
  | "crawl_failed"
  | "enqueue_failed"
  | "checkpoint_failed"
  | "store_unavailable";

export interface SourceFailure {
  kind: FailureKind;
  /** Human-readable reason, stored as the record's `error`. Must not contain secrets. */
  message: string;
  pipelineId: string | null;
  pipelineName: string | null;
  executorId?: string | null;
}

interface FailureState {
  signature: string;
  ref?: RecordRef;
  occurrences: number;
}

export interface RecordedFailure {
  executionId?: string;
  occurrences: number;
  /** A new record was written (first occurrence of this failure). */
  isNew: boolean;
}

/** Identifies "the same failure": volatile parts (request ids, timestamps) are removed from the message. */
export function failureSignature(f: SourceFailure): string {
  const stable = f.message
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<id>")
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z?/g, "<time>");
  return `${f.kind}|${f.pipelineId ?? ""}|${f.executorId ?? ""}|${stable}`;
}

export class FailureLog {
  private readonly states = new Map<string, FailureState>();

  constructor(
    private readonly executions: Container,
    private readonly workerId: string,
    private readonly logger: Logger,
  ) {}

  /** Writes or counts the failure. Never throws: a Cosmos error here must not hide the original failure. */
  async record(vaultId: string, failure: SourceFailure): Promise<RecordedFailure> {
    const signature = failureSignature(failure);
    const state = this.states.get(vaultId);
    const log = this.logger.child({ vault_id: vaultId, pipeline_id: failure.pipelineId });
    if (state && state.signature === signature && state.ref) {
      state.occurrences++;
      try {
        state.ref = (await countRepeatedFailure(this.executions, state.ref, state.occurrences)) ?? state.ref;
      } catch (err) {
        log.warn("could not count a repeated crawl failure on its execution record", { err });
      }
      return { executionId: state.ref.id, occurrences: state.occurrences, isNew: false };
    }
    const next: FailureState = { signature, occurrences: 1 };
    this.states.set(vaultId, next);
    try {
      next.ref = await createFailedExecution(this.executions, {
        pipelineId: failure.pipelineId,
        pipelineName: failure.pipelineName,
        vaultId,
        workerId: this.workerId,
        executorId: failure.executorId,
      }, failure.message);
      log.info("crawl failure recorded", { execution_id: next.ref.id, failure: failure.kind });
      return { executionId: next.ref.id, occurrences: 1, isNew: true };
    } catch (err) {
      log.error("could not write the failed execution record", { err, failure: failure.kind });
      return { occurrences: 1, isNew: true };
    }
  }

  /** The vault crawled fine: a later failure is a new state and gets a new record. */
  clear(vaultId: string): void {
    this.states.delete(vaultId);
  }
}
