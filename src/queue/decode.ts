// Queue message text → a validated task, a claim-check pointer, or the reason it must go to the poison queue.
// Accepts plain JSON (what the Python source worker and our sender write) and base64 JSON (Azure Functions' default),
// the envelope or a bare task, and the README's `content_id` + `content_data` task shape (model/task-envelope.ts).
// A claim-check pointer whose blob name is not one the worker writes is invalid here (claim-check.ts has the rule),
// so nothing downstream ever follows it.
import { Buffer } from "node:buffer";
import * as v from "valibot";
import {
  type ClaimCheckMessage,
  ClaimCheckMessageSchema,
  type TaskMessage,
  TaskMessageSchema,
} from "../model/task-envelope.ts";
import { issuesText } from "../util/valibot-issues.ts";
import { claimCheckNameProblem } from "./claim-check.ts";

export type DecodedMessage =
  | { kind: "task"; message: TaskMessage }
  | { kind: "claim-check"; message: ClaimCheckMessage }
  | {
    kind: "invalid";
    reason: string;
    /** Set when the message names them, so the execution can be marked failed. */
    executionId?: string;
    taskId?: string;
  };

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const EnvelopeHeadSchema = v.object({ task_type: v.optional(v.unknown()) });

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** The JSON value inside the message text, or why there is none. */
function messageJson(text: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  const trimmed = text.replace(/^\uFEFF/, "").trim();
  if (trimmed === "") return { ok: false, reason: "message is empty" };
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    const parsed = parseJson(trimmed);
    return parsed.ok ? parsed : { ok: false, reason: "message is not valid JSON" };
  }
  const compact = trimmed.replace(/\s+/g, "");
  if (!BASE64.test(compact) || compact.length % 4 !== 0) {
    return { ok: false, reason: "message is neither JSON nor base64-encoded JSON" };
  }
  const decoded = Buffer.from(compact, "base64").toString("utf8").replace(/^\uFEFF/, "").trim();
  const parsed = parseJson(decoded);
  return parsed.ok ? parsed : { ok: false, reason: "message is base64 but does not decode to JSON" };
}

function stringField(obj: unknown, key: string): string | undefined {
  const value = (obj as Record<string, unknown> | null)?.[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

export function decodeMessage(text: string): DecodedMessage {
  const json = messageJson(text);
  if (!json.ok) return { kind: "invalid", reason: json.reason };
  const head = v.safeParse(EnvelopeHeadSchema, json.value);
  if (!head.success || Array.isArray(json.value)) {
    return { kind: "invalid", reason: "message JSON is not an object with a task_type" };
  }
  const taskType = head.output.task_type;
  if (taskType !== "content_processing") {
    return {
      kind: "invalid",
      reason: `unknown task_type ${JSON.stringify(taskType ?? null)} (expected "content_processing")`,
    };
  }
  const envelope = json.value as Record<string, unknown>;
  if (envelope.claim_check !== undefined) {
    const pointer = v.safeParse(ClaimCheckMessageSchema, envelope);
    const problem = pointer.success ? claimCheckNameProblem(pointer.output.claim_check) : issuesText(pointer.issues);
    if (pointer.success && !problem) return { kind: "claim-check", message: pointer.output };
    return {
      kind: "invalid",
      reason: `invalid claim-check message: ${problem}`,
      executionId: stringField(envelope.claim_check, "execution_id"),
      taskId: stringField(envelope.claim_check, "task_id"),
    };
  }
  // A bare task (the payload alone, with its task_type), as a client written from the ContentFlow worker README
  // may send it: read as if wrapped.
  const wrapped = envelope.payload === undefined && envelope.pipeline_id !== undefined
    ? { task_type: "content_processing", payload: envelope }
    : envelope;
  const task = v.safeParse(TaskMessageSchema, wrapped);
  if (task.success) return { kind: "task", message: task.output };
  return {
    kind: "invalid",
    reason: `invalid task message: ${issuesText(task.issues.slice(0, 5))}`,
    executionId: stringField(wrapped.payload, "execution_id"),
    taskId: stringField(wrapped.payload, "task_id"),
  };
}

/** A claim-check blob's text → the task it holds; it must be the task the pointer names. */
export function decodeClaimCheckBlob(
  text: string,
  pointer: ClaimCheckMessage,
): { ok: true; message: TaskMessage } | { ok: false; reason: string } {
  const where = `claim-check blob ${pointer.claim_check.container}/${pointer.claim_check.blob}`;
  const json = parseJson(text);
  if (!json.ok) return { ok: false, reason: `${where} is not valid JSON` };
  const task = v.safeParse(TaskMessageSchema, json.value);
  if (!task.success) {
    return { ok: false, reason: `${where} holds an invalid task: ${issuesText(task.issues.slice(0, 5))}` };
  }
  const { execution_id, task_id } = task.output.payload;
  if (execution_id !== pointer.claim_check.execution_id || task_id !== pointer.claim_check.task_id) {
    return {
      ok: false,
      reason:
        `${where} holds task ${task_id}/${execution_id}, not ${pointer.claim_check.task_id}/${pointer.claim_check.execution_id}`,
    };
  }
  return { ok: true, message: task.output };
}
