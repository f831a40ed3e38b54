// The input of a stored execution, for `pipeline run --execution ID` to run again locally: the items of its task as
// the poison record keeps it (the whole original message, so the items' data too), else the items' identifiers from
// the execution record. Nothing is changed: the poison records are claimed only while they are read and made visible
// again at once (as `poison list` does), the execution record is only read.
import * as v from "valibot";
import { type Content, ContentIdentifierSchema } from "../model/content.ts";
import type { TaskMessage } from "../model/task-envelope.ts";
import { decodeClaimCheckBlob } from "../queue/decode.ts";
import { readExecution } from "../store/execution-records.ts";
import type { Described, RedriveAdmin } from "./admin.ts";

/** How long poison records stay claimed while they are read (released at once afterwards). */
const READ_CLAIM_SECONDS = 60;

export interface ReplayInput {
  executionId: string;
  pipelineId: string;
  items: Content[];
  from: "poison record" | "execution record";
}

/** The task of a poison record (read from its claim-check blob for a claim-check pointer); a problem otherwise. */
async function poisonedTask(admin: RedriveAdmin, d: Described): Promise<TaskMessage | string> {
  if (!d.original) return d.problem ?? d.entry.unreadable ?? "the original message could not be read";
  const decoded = d.original.decoded;
  if (decoded.kind === "task") return decoded.message;
  if (decoded.kind === "invalid") return `the original message is not a valid task: ${decoded.reason}`;
  const read = await admin.claimChecks().read(decoded.message, AbortSignal.timeout(60_000));
  if (!read.found) return read.problem ?? `claim-check blob ${decoded.message.claim_check.blob} is gone`;
  const task = decodeClaimCheckBlob(read.text, decoded.message);
  return task.ok ? task.message : task.reason;
}

/** The stored input of execution `executionId`; throws, saying why, when there is none to run. */
export async function replayInput(admin: RedriveAdmin, executionId: string): Promise<ReplayInput> {
  const entries = await admin.poison.scan({ claimSeconds: READ_CLAIM_SECONDS });
  let poisonProblem: string | undefined;
  try {
    for (const entry of entries) {
      const d = await admin.describe(entry);
      if ((d.original?.executionId ?? entry.record?.execution_id) !== executionId) continue;
      const task = await poisonedTask(admin, d);
      if (typeof task !== "string") {
        return {
          executionId,
          pipelineId: task.payload.pipeline_id,
          items: task.payload.content,
          from: "poison record",
        };
      }
      poisonProblem = `its poison record ${entry.id} cannot be used: ${task}`;
    }
  } finally {
    await admin.poison.release(entries);
  }
  const store = await admin.cosmos();
  const doc = await readExecution(store.executions, executionId);
  if (!doc) throw new Error(`execution ${executionId}: ${poisonProblem ?? "no execution record and no poison record"}`);
  if (!doc.pipeline_id) throw new Error(`execution ${executionId}: the record names no pipeline`);
  const ids = v.safeParse(v.array(ContentIdentifierSchema), doc.content ?? []);
  if (!ids.success || ids.output.length === 0) {
    throw new Error(
      `execution ${executionId}: the record holds no item identifiers to run again` +
        (poisonProblem ? ` (and ${poisonProblem})` : ""),
    );
  }
  return {
    executionId,
    pipelineId: doc.pipeline_id,
    // The record keeps the items' identifiers only: their data is read again by the pipeline's retriever.
    items: ids.output.map((id) => ({ id, data: {}, summary_data: {}, executor_logs: [] })),
    from: "execution record",
  };
}
