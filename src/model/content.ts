// The ContentFlow Content model (contentflow-lib models/_content.py), snake_case on the wire.
// Loose objects: unknown keys written by other ContentFlow components are kept, not dropped.
import * as v from "valibot";

/** A JSON object (valibot's record() alone also accepts arrays). */
function jsonObject(what: string) {
  return v.pipe(
    v.custom<Record<string, unknown>>(
      (value) => typeof value === "object" && value !== null && !Array.isArray(value),
      `${what} must be an object`,
    ),
    v.record(v.string(), v.unknown()),
  );
}

export const ContentIdentifierSchema = v.looseObject({
  canonical_id: v.pipe(v.string(), v.minLength(1, "id.canonical_id must not be empty")),
  unique_id: v.pipe(v.string(), v.minLength(1, "id.unique_id must not be empty")),
  source_name: v.optional(v.nullable(v.string())),
  source_type: v.optional(v.nullable(v.string())),
  container: v.optional(v.nullable(v.string())),
  path: v.optional(v.nullable(v.string())),
  filename: v.optional(v.nullable(v.string())),
  metadata: v.optional(v.nullable(jsonObject("id.metadata"))),
});

export const ExecutorLogEntrySchema = v.looseObject({
  executor_id: v.string(),
  start_time: v.optional(v.nullable(v.string())),
  end_time: v.optional(v.nullable(v.string())),
  status: v.optional(v.string(), "pending"),
  details: v.optional(jsonObject("executor_logs[].details"), {}),
  errors: v.optional(v.array(v.string()), []),
});

export const ContentSchema = v.looseObject({
  id: ContentIdentifierSchema,
  summary_data: v.optional(jsonObject("summary_data"), {}),
  data: v.optional(jsonObject("data"), {}),
  executor_logs: v.optional(v.array(ExecutorLogEntrySchema), []),
});

export type ContentIdentifier = v.InferOutput<typeof ContentIdentifierSchema>;
export type ExecutorLogEntry = v.InferOutput<typeof ExecutorLogEntrySchema>;
export type Content = v.InferOutput<typeof ContentSchema>;

export function nowIso(): string {
  return new Date().toISOString();
}

/** Deep copy for fan-out branches (contentflow shared one object between branches). */
export function cloneContent<T>(value: T): T {
  return structuredClone(value);
}

/** Overall status of a content item from its executor logs (Content.get_status). */
export function contentStatus(content: Content): "pending" | "failed" | "completed" {
  const logs = content.executor_logs ?? [];
  if (logs.length === 0) return "pending";
  if (logs.some((l) => l.status === "failed")) return "failed";
  if (logs.every((l) => l.status === "completed" || l.status === "skipped")) return "completed";
  return "pending";
}
