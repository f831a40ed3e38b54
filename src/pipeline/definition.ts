// Pipeline YAML → validated definition. Accepts `pipeline: {...}`, `pipelines: [...]` (the first, or the one named)
// and a bare definition, like ContentFlow. Structure (ids, edges, cycles, entry point) is checked here; executor
// types and settings are checked when the pipeline is compiled against a registry (compile.ts).
import * as v from "valibot";
import process from "node:process";
import { PipelineError } from "./errors.ts";
import { issuesText } from "../util/valibot-issues.ts";
import type { Env } from "./env.ts";
import { definitionGraph } from "./graph.ts";
import { readYamlDocument } from "./yaml.ts";

export { PipelineError };

const plainObject = v.custom<Record<string, unknown>>(
  (x) => typeof x === "object" && x !== null && !Array.isArray(x),
  "must be a mapping",
);

/**
 * Python's str() of a YAML scalar PyYAML did not read as text (`id: 1`, `id: off`): ContentFlow keys executors by
 * whatever PyYAML gave, and names them by str() of it.
 */
function pythonText(x: number | boolean): string {
  if (typeof x === "boolean") return x ? "True" : "False";
  return String(x);
}

const nonEmptyId = (what: string) =>
  v.pipe(
    v.union(
      [v.string(), v.pipe(v.union([v.number(), v.boolean()]), v.transform(pythonText))],
      `${what} must be a string`,
    ),
    v.trim(),
    v.minLength(1, `${what} must not be empty`),
  );

export const ExecutorConfigSchema = v.looseObject({
  id: nonEmptyId("executor id"),
  type: nonEmptyId("executor type"),
  settings: v.pipe(
    v.optional(v.nullable(v.pipe(plainObject, v.record(v.string(), v.unknown()))), {}),
    v.transform((s) => s ?? {}),
  ),
});
export type ExecutorConfig = v.InferOutput<typeof ExecutorConfigSchema>;

const idList = (what: string) =>
  v.pipe(
    v.union([nonEmptyId(what), v.array(nonEmptyId(what))], `${what} must be an executor id or a list of ids`),
    v.transform((x) => (Array.isArray(x) ? x : [x])),
    v.minLength(1, `${what} must name at least one executor`),
  );

/** `to: [{target: x}]` (the UI's conditional form, without a condition) is accepted as `to: [x]`. */
const targetList = v.pipe(
  v.union([
    nonEmptyId("edge 'to'"),
    v.array(
      v.union([
        nonEmptyId("edge 'to'"),
        v.pipe(v.looseObject({ target: nonEmptyId("edge target") }), v.transform((t) => t.target)),
      ]),
    ),
  ], "edge 'to' must be an executor id or a list of ids"),
  v.transform((x) => (Array.isArray(x) ? x : [x])),
  v.minLength(1, "edge 'to' must name at least one executor"),
);

export const EdgeSchema = v.looseObject({
  from: idList("edge 'from'"),
  to: targetList,
  /** sequential, parallel or join; ContentFlow runs any other type as sequential (a compile warning says so). */
  type: v.optional(
    v.pipe(
      v.union(
        [v.string(), v.number(), v.boolean(), v.null()],
        "edge type must be sequential, parallel or join",
      ),
      // As Python names it in its warning (`type:` with no value is None).
      v.transform((t) => (t === null ? "None" : typeof t === "string" ? t : pythonText(t))),
    ),
    "sequential",
  ),
});
export type Edge = v.InferOutput<typeof EdgeSchema>;

export const PipelineDefinitionSchema = v.looseObject({
  name: v.optional(v.pipe(v.string("name must be a string"), v.trim()), "pipeline"),
  description: v.optional(v.nullable(v.string())),
  executors: v.pipe(
    v.array(ExecutorConfigSchema, "executors must be a list"),
    v.minLength(1, "the pipeline has no executors"),
  ),
  execution_sequence: v.optional(
    v.nullable(v.array(nonEmptyId("execution_sequence entry"), "execution_sequence must be a list of executor ids")),
  ),
  edges: v.optional(v.nullable(v.array(EdgeSchema, "edges must be a list"))),
});
export type PipelineDefinition = v.InferOutput<typeof PipelineDefinitionSchema>;

/** The environment each parsed executor config resolves ${VAR} against (process.env for hand-built configs). */
const envOf = new WeakMap<object, Env>();

export function executorEnv(cfg: object): Env {
  return envOf.get(cfg) ?? (process.env as Env);
}

export interface ParseOptions {
  /** Environment for ${VAR} in settings (default: process.env). Variables are resolved when executors are created. */
  env?: Env;
  /** With a `pipelines:` list: the pipeline to use (default: the first). */
  name?: string;
}

function selectDefinition(doc: Record<string, unknown>, name: string | undefined): unknown {
  if (doc.pipelines !== undefined && doc.pipelines !== null) {
    if (!Array.isArray(doc.pipelines)) throw new PipelineError("`pipelines:` must be a list of pipeline definitions");
    const list = doc.pipelines as unknown[];
    if (name !== undefined) {
      const found = list.find((p) =>
        typeof p === "object" && p !== null && (p as Record<string, unknown>).name === name
      );
      if (found) return found;
      if (doc.pipeline === undefined) throw new PipelineError(`\`pipelines:\` has no pipeline named '${name}'`);
    } else if (doc.pipeline === undefined) {
      if (list.length === 0) throw new PipelineError("`pipelines:` is empty");
      return list[0];
    }
  }
  if (doc.pipeline !== undefined) {
    if (typeof doc.pipeline !== "object" || doc.pipeline === null || Array.isArray(doc.pipeline)) {
      throw new PipelineError("`pipeline:` must be a mapping");
    }
    return doc.pipeline;
  }
  return doc;
}

/** Edge conditions are rejected with a pointer to what works (ContentFlow crashed on them). */
function rejectEdgeConditions(raw: unknown): void {
  if (typeof raw !== "object" || raw === null) return;
  const edges = (raw as Record<string, unknown>).edges;
  if (!Array.isArray(edges)) return;
  edges.forEach((edge, i) => {
    const to = (edge as Record<string, unknown> | null)?.to;
    if (!Array.isArray(to)) return;
    for (const t of to) {
      if (typeof t === "object" && t !== null && (t as Record<string, unknown>).condition !== undefined) {
        const target = String((t as Record<string, unknown>).target ?? "?");
        throw new PipelineError(
          `edges[${i}]: edge conditions are not supported; use settings.condition on the target executor ('${target}')`,
        );
      }
    }
  });
}

/** The pipelines of the YAML document a definition was read from (raw; validated when a `subpipeline` names one). */
interface SourceDocument {
  pipelines: unknown[];
  env: Env;
}
const documentOf = new WeakMap<object, SourceDocument>();

function documentPipelines(doc: Record<string, unknown>): unknown[] {
  const list = Array.isArray(doc.pipelines) ? [...doc.pipelines] : [];
  if (doc.pipeline !== undefined) list.push(doc.pipeline);
  return list;
}

/**
 * The pipeline called `name` in the same YAML document as `def` (`pipeline:` or an entry of `pipelines:`), validated;
 * undefined when the document has none of that name or `def` was not read from a YAML document.
 */
export function siblingPipeline(def: PipelineDefinition, name: string): PipelineDefinition | undefined {
  const source = documentOf.get(def);
  const raw = source?.pipelines.find((p) =>
    typeof p === "object" && p !== null && (p as Record<string, unknown>).name === name
  );
  if (!source || raw === undefined) return undefined;
  let sibling: PipelineDefinition;
  try {
    sibling = validatePipelineDefinition(raw, { env: source.env });
  } catch (err) {
    throw new PipelineError(`pipeline '${name}': ${(err as Error).message}`);
  }
  documentOf.set(sibling, source);
  return sibling;
}

/** Lets a pipeline built from parts of `parent` (for_each_content's steps) name the same document's pipelines. */
export function shareDocument(child: PipelineDefinition, parent: PipelineDefinition): void {
  const source = documentOf.get(parent);
  if (source) documentOf.set(child, source);
}

/** Names of the pipelines in the YAML document `def` came from (for error messages). */
export function siblingPipelineNames(def: PipelineDefinition): string[] {
  return (documentOf.get(def)?.pipelines ?? []).map((p) =>
    typeof p === "object" && p !== null ? String((p as Record<string, unknown>).name ?? "") : ""
  ).filter((n) => n !== "");
}

/** Notes on how the YAML of a definition was read (yaml.ts), for `pipeline check` and the compile warnings. */
const yamlNotesOf = new WeakMap<object, string[]>();

/** What the YAML reader noted about the document `def` was read from (empty for definitions not read from YAML). */
export function yamlNotes(def: PipelineDefinition): string[] {
  return yamlNotesOf.get(def) ?? [];
}

export function parsePipelineYaml(text: string, opts: ParseOptions = {}): PipelineDefinition {
  let doc: unknown;
  let notes: string[];
  try {
    ({ value: doc, notes } = readYamlDocument(text));
  } catch (err) {
    throw new PipelineError(`pipeline YAML does not parse: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new PipelineError("pipeline YAML must be a mapping (with `pipeline:`, `pipelines:` or a definition)");
  }
  const def = validatePipelineDefinition(selectDefinition(doc as Record<string, unknown>, opts.name), opts);
  documentOf.set(def, {
    pipelines: documentPipelines(doc as Record<string, unknown>),
    env: opts.env ?? (process.env as Env),
  });
  yamlNotesOf.set(def, notes);
  return def;
}

/** Validates an already-parsed definition object (for callers holding JSON). */
export function validatePipelineDefinition(raw: unknown, opts: { env?: Env } = {}): PipelineDefinition {
  rejectEdgeConditions(raw);
  const parsed = v.safeParse(PipelineDefinitionSchema, raw);
  if (!parsed.success) throw new PipelineError(`invalid pipeline definition: ${issuesText(parsed.issues)}`);
  const def = parsed.output;
  const seen = new Set<string>();
  for (const e of def.executors) {
    if (seen.has(e.id)) throw new PipelineError(`executor id '${e.id}' is used more than once`);
    seen.add(e.id);
  }
  definitionGraph(def);
  const env = opts.env ?? (process.env as Env);
  for (const e of def.executors) envOf.set(e, env);
  return def;
}
