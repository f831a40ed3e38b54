// Pipeline YAML → validated definition (`pipeline:`, `pipelines:` or a bare definition), with ${ENV} substitution.
import * as v from "valibot";
import { parse as parseYaml } from "yaml";

export class PipelineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PipelineError";
  }
}

const idList = v.union([v.string(), v.array(v.string())]);

export const ExecutorConfigSchema = v.looseObject({
  id: v.pipe(v.string("executor id must be a string"), v.minLength(1, "executor id must not be empty")),
  type: v.pipe(v.string("executor type must be a string"), v.minLength(1, "executor type must not be empty")),
  settings: v.optional(v.nullable(v.record(v.string(), v.unknown())), {}),
});
export type ExecutorConfig = v.InferOutput<typeof ExecutorConfigSchema>;

export const EdgeSchema = v.looseObject({
  from: idList,
  to: v.union([idList, v.array(v.looseObject({ target: v.string(), condition: v.optional(v.string()) }))]),
  type: v.optional(v.string(), "sequential"),
});

export const PipelineDefinitionSchema = v.looseObject({
  name: v.optional(v.string(), "pipeline"),
  description: v.optional(v.nullable(v.string())),
  executors: v.pipe(v.array(ExecutorConfigSchema, "executors must be a list"), v.minLength(1, "the pipeline has no executors")),
  execution_sequence: v.optional(v.nullable(v.array(v.string()))),
  edges: v.optional(v.nullable(v.array(EdgeSchema))),
});
export type PipelineDefinition = v.InferOutput<typeof PipelineDefinitionSchema>;

function issuesText(issues: v.BaseIssue<unknown>[]): string {
  return issues.map((i) => {
    const path = i.path?.map((p) => String(p.key)).join(".");
    return path ? `${path}: ${i.message}` : i.message;
  }).join("; ");
}

/** `${VAR}` anywhere in a string setting; an unset variable is an error naming it. */
function substitute(value: unknown, env: Record<string, string | undefined>, where: string): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const found = env[name];
      if (found === undefined) throw new PipelineError(`${where}: environment variable ${name} is not set`);
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((x) => substitute(x, env, where));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, substitute(x, env, `${where}.${k}`)]));
  }
  return value;
}

export function parsePipelineYaml(text: string, opts: { env?: Record<string, string | undefined>; name?: string } = {}): PipelineDefinition {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new PipelineError(`pipeline YAML does not parse: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!doc || typeof doc !== "object") throw new PipelineError("pipeline YAML must be a mapping");
  let raw: unknown = doc;
  const d = doc as Record<string, unknown>;
  if (d.pipeline !== undefined) raw = d.pipeline;
  else if (Array.isArray(d.pipelines)) {
    const list = d.pipelines as Array<Record<string, unknown>>;
    raw = (opts.name && list.find((p) => p?.name === opts.name)) || list[0];
    if (!raw) throw new PipelineError("`pipelines:` is empty");
  }
  const parsed = v.safeParse(PipelineDefinitionSchema, raw);
  if (!parsed.success) throw new PipelineError(`invalid pipeline definition: ${issuesText(parsed.issues)}`);
  const def = parsed.output;
  const seen = new Set<string>();
  for (const e of def.executors) {
    if (seen.has(e.id)) throw new PipelineError(`executor id '${e.id}' is used twice`);
    seen.add(e.id);
  }
  const env = opts.env ?? (process.env as Record<string, string | undefined>);
  for (const e of def.executors) e.settings = substitute(e.settings ?? {}, env, `executor '${e.id}' settings`) as Record<string, unknown>;
  return def;
}

export { issuesText };
