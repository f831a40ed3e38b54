// Queue message text → validated task (plain JSON or base64 JSON), or a reason to poison it at once.
import * as v from "valibot";
import { ClaimCheckMessageSchema, type ClaimCheckMessage, type TaskMessage, TaskMessageSchema } from "./envelope.ts";

export type Decoded =
  | { kind: "task"; message: TaskMessage }
  | { kind: "claim-check"; message: ClaimCheckMessage }
  | { kind: "invalid"; reason: string; executionId?: string };

function issues(list: v.BaseIssue<unknown>[]): string {
  return list.slice(0, 5).map((i) => {
    const path = i.path?.map((p) => String(p.key)).join(".");
    return path ? `${path}: ${i.message}` : i.message;
  }).join("; ");
}

function parseJson(text: string): unknown | undefined {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function decodeMessage(text: string): Decoded {
  const trimmed = text.trim();
  let value: unknown;
  if (trimmed.startsWith("{")) {
    value = parseJson(trimmed);
    if (value === undefined) return { kind: "invalid", reason: "message is not valid JSON" };
  } else {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0) {
      return { kind: "invalid", reason: "message is neither JSON nor base64-encoded JSON" };
    }
    value = parseJson(Buffer.from(trimmed, "base64").toString("utf8"));
    if (value === undefined) return { kind: "invalid", reason: "message is base64 but does not decode to JSON" };
  }
  const obj = value as Record<string, unknown>;
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) return { kind: "invalid", reason: "message JSON is not an object" };
  if (obj.task_type !== "content_processing") {
    return { kind: "invalid", reason: `unknown task_type ${JSON.stringify(obj.task_type ?? null)} (expected "content_processing")` };
  }
  if (obj.claim_check !== undefined) {
    const cc = v.safeParse(ClaimCheckMessageSchema, obj);
    return cc.success ? { kind: "claim-check", message: cc.output } : { kind: "invalid", reason: `invalid claim-check message: ${issues(cc.issues)}` };
  }
  const parsed = v.safeParse(TaskMessageSchema, obj);
  if (parsed.success) return { kind: "task", message: parsed.output };
  const payload = obj.payload as Record<string, unknown> | undefined;
  const executionId = typeof payload?.execution_id === "string" ? payload.execution_id : undefined;
  return { kind: "invalid", reason: `invalid task message: ${issues(parsed.issues)}`, executionId };
}
