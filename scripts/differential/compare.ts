// Our side of the differential suite, and the normalisation both sides go through before they are compared
// (docs/pipelines.md, "Differential suite"). Used by scripts/differential/record.ts and tests/unit/differential.test.ts.
//
// Normalised, because it is irrelevant to what a pipeline produces:
// - key order of every object (the comparison sorts keys);
// - timestamps: executor log `start_time`/`end_time` are dropped, and any string that is an ISO date-time becomes
//   "<timestamp>";
// - generated ids (UUIDs) become "<uuid>";
// - the documents' temp paths become "<doc:NAME>" again;
// - a content id field that one side leaves out and the other writes as null (pydantic writes every optional field);
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
const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

function normaliseValue(value: unknown, docPaths: Record<string, string>): unknown {
  if (typeof value === "string") {
    for (const [name, path] of Object.entries(docPaths)) if (value === path) return `<doc:${name}>`;
    if (ISO_TIME.test(value)) return "<timestamp>";
    return value.replace(UUID, "<uuid>");
  }
  if (Array.isArray(value)) return value.map((x) => normaliseValue(x, docPaths));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = normaliseValue((value as Record<string, unknown>)[key], docPaths);
    }
    return out;
  }
  return value;
}

function normaliseItem(raw: unknown, docPaths: Record<string, string>): unknown {
  if (raw === null || typeof raw !== "object") return normaliseValue(raw, docPaths);
  const item = { ...(raw as Record<string, unknown>) };
  if (item.id && typeof item.id === "object") {
    const id = { ...(item.id as Record<string, unknown>) };
    for (const key of ID_FIELDS) if (id[key] === undefined) id[key] = null;
    if (id.metadata !== null && typeof id.metadata === "object" && Object.keys(id.metadata).length === 0) {
      id.metadata = null;
    }
    item.id = id;
  }
  if (Array.isArray(item.executor_logs)) {
    item.executor_logs = item.executor_logs.map((entry) => {
      const { start_time: _s, end_time: _e, errors, ...rest } = entry as Record<string, unknown>;
      return { ...rest, errors: Array.isArray(errors) ? errors.length : errors };
    });
  }
  return normaliseValue(item, docPaths);
}

/** The normalised form of one side's outcome (see the header for what is normalised). */
export function normaliseOutcome(o: Outcome, docPaths: Record<string, string>): Outcome {
  if (o.outcome !== "ok") return { outcome: o.outcome };
  return { outcome: "ok", output: (o.output ?? []).map((x) => normaliseItem(x, docPaths)) };
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
