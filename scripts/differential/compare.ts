// Our side of the differential suite, and the normalisation both sides go through before they are compared
// (docs/pipelines.md, "Differential suite"). Used by scripts/differential/record.ts and
// tests/unit/differential.test.ts.
//
// Normalised, because it is irrelevant to what a pipeline produces:
// - key order of every object (the comparison sorts keys);
// - timestamps: executor log `start_time`/`end_time` are dropped, any string that is an ISO date-time becomes
//   "<timestamp>", and measured durations (`duration_seconds`, `duration_ms`, `elapsed_seconds`) "<duration>";
// - generated ids (UUIDs) become "<uuid>", and their first 8 characters inside other text "<uuid8>";
// - the documents' temp paths become "<doc:NAME>" again;
// - a content id field that one side leaves out and the other writes as null (pydantic writes every optional field),
//   also in items nested in data (document_set_collector's raw_content_list);
// - ids made from the clock: document_set_collector's unique_id (sha1 of the set id and the time) and the
//   `ungrouped_<12 hex>` set id of items without one;
// - error texts: a refusal, a failed run and a failed log entry are compared by kind and count, not by message.
// Nothing else is touched: lengths, separators, log entries, counts and types are compared as they are.
import * as v from "valibot";
import { type Content, ContentSchema } from "../../src/model/content.ts";
import { compilePipeline, defaultRegistry, PipelineError, runPipeline } from "../../src/pipeline/index.ts";
import { validatePipelineDefinition } from "../../src/pipeline/index.ts";
import type { ExecutorDeps } from "../../src/executors/types.ts";
import type { Logger } from "../../src/log/logger.ts";
import type { DifferentialCase } from "./corpus.ts";

/** What one side did with a case. */
export interface Outcome {
  /** refused: the executor was not created (settings); failed: the run raised; ok: output items. */
  outcome: "refused" | "failed" | "ok";
  output?: unknown[];
  error?: string;
}

const ID_FIELDS = ["source_name", "source_type", "container", "path", "filename", "metadata"];
/** Measured times (log entry details such as for_each_content's duration_seconds). */
const DURATION_KEYS = new Set(["duration_seconds", "duration_ms", "elapsed_seconds"]);
const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
/** document_set_collector's set of items without a set id (ContentFlow names it from the clock). */
const UNGROUPED = /ungrouped_[0-9a-f]{12}/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** A content id: optional fields one side leaves out are null; a unique_id made from the clock is a placeholder. */
function normaliseId(id: Record<string, unknown>): Record<string, unknown> {
  const out = { ...id };
  for (const key of ID_FIELDS) if (out[key] === undefined) out[key] = null;
  if (out.metadata !== null && typeof out.metadata === "object" && Object.keys(out.metadata).length === 0) {
    out.metadata = null;
  }
  // document_set_collector: sha1 of the set id and the current time.
  if (typeof out.canonical_id === "string" && out.canonical_id.startsWith("document_set://")) {
    out.unique_id = "<clock-derived>";
  }
  return out;
}

function normaliseValue(value: unknown, docPaths: Record<string, string>, key = ""): unknown {
  if (typeof value === "string") {
    for (const [name, path] of Object.entries(docPaths)) if (value === path) return `<doc:${name}>`;
    if (ISO_TIME.test(value)) return "<timestamp>";
    return value.replace(UUID, "<uuid>").replace(UNGROUPED, "ungrouped_<generated>");
  }
  if (Array.isArray(value)) return value.map((x) => normaliseValue(x, docPaths));
  if (value !== null && typeof value === "object") {
    let object = value as Record<string, unknown>;
    if (key === "id" && typeof object.canonical_id === "string") object = normaliseId(object);
    if (key === "executor_logs_entry") {
      const { start_time: _s, end_time: _e, errors, ...rest } = object;
      object = { ...rest, errors: Array.isArray(errors) ? errors.length : errors };
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(object).sort()) {
      const child = object[k];
      if (k === "executor_logs" && Array.isArray(child)) {
        out[k] = child.map((entry) => normaliseValue(entry, docPaths, "executor_logs_entry"));
      } else if (DURATION_KEYS.has(k) && typeof child === "number") out[k] = "<duration>";
      else out[k] = normaliseValue(child, docPaths, k);
    }
    return out;
  }
  return value;
}

function normaliseItem(raw: unknown, docPaths: Record<string, string>): unknown {
  return normaliseValue(raw, docPaths);
}

/**
 * Text derived from a generated id: its first 8 characters, as in document_set_initializer's default set name
 * `document_set_<first 8 of the set id>`.
 */
function withoutIdPrefixes(output: unknown[]): unknown[] {
  const prefixes = new Set((JSON.stringify(output).match(UUID) ?? []).map((id) => id.slice(0, 8)));
  if (prefixes.size === 0) return output;
  const re = new RegExp([...prefixes].join("|"), "g");
  return JSON.parse(
    JSON.stringify(output),
    (_key, v) => (typeof v === "string" ? v.replace(UUID, "<uuid>").replace(re, "<uuid8>") : v),
  );
}

/** The normalised form of one side's outcome (see the header for what is normalised). */
export function normaliseOutcome(o: Outcome, docPaths: Record<string, string>): Outcome {
  if (o.outcome !== "ok") return { outcome: o.outcome };
  return { outcome: "ok", output: withoutIdPrefixes(o.output ?? []).map((x) => normaliseItem(x, docPaths)) };
}

/** Runs a case through our engine: a one-executor pipeline on the case's items, read as the worker reads a task. */
export async function runOurs(
  c: DifferentialCase,
  deps: ExecutorDeps,
  logger: Logger,
): Promise<Outcome> {
  const raw = c.branches ? c.branches.flat() : (c.input ?? []);
  const items: Content[] = [];
  for (const x of raw) {
    const parsed = v.safeParse(ContentSchema, x);
    if (!parsed.success) return { outcome: "refused", error: `input item: ${parsed.issues[0].message}` };
    items.push(parsed.output);
  }
  let compiled;
  try {
    const def = validatePipelineDefinition(
      { name: "differential", executors: [{ id: "x", type: c.type, settings: c.settings ?? {} }] },
      { env: {} },
    );
    compiled = compilePipeline(def, { registry: defaultRegistry(), deps });
  } catch (err) {
    if (err instanceof PipelineError) return { outcome: "refused", error: err.message };
    throw err;
  }
  try {
    const result = await runPipeline(compiled, items, { signal: new AbortController().signal, logger });
    if (result.status !== "completed") return { outcome: "failed", error: result.error };
    return { outcome: "ok", output: JSON.parse(JSON.stringify(result.content)) };
  } finally {
    await compiled.close();
  }
}

/** Object keys sorted at every level, so that the JSON text of equal values is equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normaliseValue(value, {}));
}
