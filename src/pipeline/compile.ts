// Definition → executable pipeline: executor instances with validated settings (${VAR} applied first), compiled
// conditions, and the run graph without the already-run input executor and with disabled executors bridged.
// Executors that run pipelines of their own (subpipeline, for_each_content) get `deps.pipelines`, which compiles
// them here, at compile time, refusing cycles and nesting deeper than MAX_NESTING_DEPTH.
import * as v from "valibot";
import type {
  ExecutorDeps,
  ExecutorInstance,
  NestedPipeline,
  NestedPipelines,
  NestedStep,
} from "../executors/types.ts";
import type { ExecutorRegistry } from "../executors/registry.ts";
import { type CommonSettings, commonSettingsSchema, splitSettings } from "./common-settings.ts";
import { compileCondition, type CompiledCondition } from "./condition.ts";
import {
  type ExecutorConfig,
  executorEnv,
  type PipelineDefinition,
  shareDocument,
  siblingPipeline,
  siblingPipelineNames,
  validatePipelineDefinition,
  yamlNotes,
} from "./definition.ts";
import { pipelineEnvPolicy, substituteEnv, unsetReferences } from "./env.ts";
import type { Config } from "../config/schema.ts";
import { PipelineError } from "./errors.ts";
import { issuesText } from "../util/valibot-issues.ts";
import { definitionGraph, runGraph } from "./graph.ts";
import { withoutEmptyValues } from "../executors/settings.ts";
import type { CompiledNode, CompiledPipeline } from "./compiled.ts";
import { runPipeline } from "./runner.ts";
import { withChoiceFallbacks } from "./choice-fallbacks.ts";

export type { CompiledNode, CompiledPipeline };

/** Pipelines inside pipelines (subpipeline, for_each_content) may nest this many levels below the top pipeline. */
export const MAX_NESTING_DEPTH = 5;

/** One level of nesting, outermost first: a named pipeline, or an executor's inline steps. */
interface NestingLevel {
  label: string;
  pipeline?: string;
}

/** Step configs of for_each_content: their settings had ${VAR} applied with the owner's, so not again. */
const alreadyResolved = new WeakSet<object>();

/** An executor entry as in the YAML; hand-built ones may omit settings. */
export type ExecutorConfigLike = Pick<ExecutorConfig, "id" | "type"> & { settings?: Record<string, unknown> | null };

function where(cfg: ExecutorConfigLike): string {
  return `executor '${cfg.id}' (${cfg.type})`;
}

/**
 * Settings with ${VAR} applied; a refused variable (see src/pipeline/env.ts) is a PipelineError naming the executor,
 * the setting and the variable; an unset one stays literal, as in ContentFlow (compilePipeline warns). Steps of
 * for_each_content were resolved with their owner's settings already.
 */
function resolvedSettings(cfg: ExecutorConfigLike, config: Config | undefined): Record<string, unknown> {
  if (alreadyResolved.has(cfg)) return cfg.settings ?? {};
  const env = executorEnv(cfg);
  return substituteEnv(cfg.settings ?? {}, env, `${where(cfg)}: settings`, pipelineEnvPolicy(config, env)) as Record<
    string,
    unknown
  >;
}

function commonSettings(
  cfg: ExecutorConfigLike,
  settings: Record<string, unknown>,
  registry: ExecutorRegistry,
): CommonSettings {
  const defaults = registry.get(cfg.type)?.commonDefaults;
  const parsed = v.safeParse(commonSettingsSchema(defaults), withoutEmptyValues(splitSettings(settings).common));
  if (!parsed.success) throw new PipelineError(`${where(cfg)}: invalid settings: ${issuesText(parsed.issues)}`);
  return parsed.output;
}

/** Whether the executor is enabled; `enabled: "${FLAG}"` is resolved first (under the same rules as other settings). */
export function executorEnabled(cfg: ExecutorConfigLike, registry: ExecutorRegistry, config?: Config): boolean {
  const raw = cfg.settings?.enabled;
  if (raw === undefined || raw === null || raw === "") return true;
  const env = executorEnv(cfg);
  const enabled = alreadyResolved.has(cfg)
    ? raw
    : substituteEnv(raw, env, `${where(cfg)}: settings.enabled`, pipelineEnvPolicy(config, env));
  return commonSettings(cfg, { enabled }, registry).enabled;
}

/** Creates one executor: known type, ${VAR} applied, its own settings validated by its schema. */
export function createExecutor(
  cfg: ExecutorConfigLike,
  registry: ExecutorRegistry,
  deps: ExecutorDeps,
  /** The pipeline `cfg` belongs to, so that a subpipeline can find the pipelines of the same document. */
  pipeline?: PipelineDefinition,
): ExecutorInstance {
  return prepare(cfg, registry, deps, pipeline ? topNesting(pipeline) : undefined).instance;
}

function topNesting(def: PipelineDefinition): NestingContext {
  return { def, levels: [{ label: `pipeline '${def.name}'`, pipeline: def.name }] };
}

function unknownType(cfg: ExecutorConfigLike, registry: ExecutorRegistry): PipelineError {
  const known = registry.list().map((d) => d.type).sort().join(", ");
  return new PipelineError(`executor '${cfg.id}': unknown type '${cfg.type}' (known types: ${known})`);
}

/** Setting names an executor's schema knows, when it is an object schema (possibly inside a pipe). */
function knownSettingNames(schema: unknown): string[] | undefined {
  let s = schema as { type?: string; entries?: Record<string, unknown>; pipe?: unknown[] } | undefined;
  if (s?.type !== "object" && s?.type !== "strict_object" && s?.pipe) s = s.pipe[0] as typeof s;
  return s?.entries && (s.type === "object" || s.type === "strict_object") ? Object.keys(s.entries) : undefined;
}

/** Settings an executor would silently ignore (typos such as `chunk_sise`). */
export function unknownSettings(cfg: ExecutorConfigLike, registry: ExecutorRegistry): string[] {
  const known = knownSettingNames(registry.get(cfg.type)?.settings);
  if (!known) return [];
  const def = registry.get(cfg.type);
  return Object.keys(splitSettings(cfg.settings ?? {}, def?.readsCommonSettings).own).filter((k) => !known.includes(k));
}

/** Where nested pipelines of the executors being compiled come from and how deep they already are. */
interface NestingContext {
  def: PipelineDefinition;
  levels: NestingLevel[];
}

function chainText(levels: NestingLevel[], last: string): string {
  return [...levels.map((l) => l.label), last].join(" → ");
}

function nestedPipeline(p: CompiledPipeline, label: string): NestedPipeline {
  return {
    executorIds: p.order,
    async run(input, ctx) {
      const result = await runPipeline(p, input, { signal: ctx.signal, logger: ctx.logger });
      // Counts of the inner executors (e.g. AI tokens) are added to the executor that ran them.
      for (const output of Object.values(result.executor_outputs)) if (output.usage) ctx.addUsage?.(output.usage);
      if (result.status === "completed") return result.content;
      if (result.status === "cancelled") throw ctx.signal.reason ?? new Error(`${label} was cancelled`);
      throw new Error(`${label} failed: ${result.error ?? "unknown error"}`);
    },
    close: () => p.close(),
  };
}

/** deps.pipelines for the executor `owner` of a pipeline compiled in `nesting`. */
function nestedPipelines(
  owner: ExecutorConfigLike,
  nesting: NestingContext | undefined,
  registry: ExecutorRegistry,
  deps: ExecutorDeps,
): NestedPipelines {
  const fail = (message: string) => new PipelineError(`${where(owner)}: ${message}`);
  const compileNested = (def: PipelineDefinition, level: NestingLevel): CompiledPipeline => {
    const levels = nesting?.levels ?? [];
    if (levels.length > MAX_NESTING_DEPTH) {
      throw fail(
        `pipelines nest more than ${MAX_NESTING_DEPTH} levels deep (${chainText(levels, level.label)})`,
      );
    }
    return compilePipeline(def, { registry, deps, nesting: { def, levels: [...levels, level] } });
  };
  return {
    named(name) {
      if (!nesting) throw fail(`sub-pipeline '${name}' can only be used inside a pipeline document`);
      const level = { label: `pipeline '${name}'`, pipeline: name };
      if (nesting.levels.some((l) => l.pipeline === name)) {
        throw fail(`sub-pipeline cycle: ${chainText(nesting.levels, level.label)}`);
      }
      const def = siblingPipeline(nesting.def, name);
      if (!def) {
        const known = siblingPipelineNames(nesting.def);
        throw fail(
          `no pipeline named '${name}' in the same YAML document` +
            (known.length ? ` (it has: ${known.join(", ")})` : ""),
        );
      }
      try {
        return nestedPipeline(compileNested(def, level), `sub-pipeline '${name}'`);
      } catch (err) {
        if (!(err instanceof PipelineError) || err.message.startsWith(where(owner))) throw err;
        throw fail(`in sub-pipeline '${name}': ${err.message}`);
      }
    },
    sequence(idPrefix, steps: readonly NestedStep[]) {
      const raw = {
        name: `${nesting?.def.name ?? "pipeline"}/${owner.id}`,
        executors: steps.map((s) => ({ id: `${idPrefix}.${s.id}`, type: s.type, settings: s.settings ?? {} })),
        execution_sequence: steps.map((s) => `${idPrefix}.${s.id}`),
      };
      let def: PipelineDefinition;
      try {
        def = validatePipelineDefinition(raw);
      } catch (err) {
        throw fail(`steps: ${(err as Error).message}`);
      }
      for (const cfg of def.executors) alreadyResolved.add(cfg);
      if (nesting) shareDocument(def, nesting.def);
      try {
        return nestedPipeline(
          compileNested(def, { label: `executor '${owner.id}' steps` }),
          "steps",
        );
      } catch (err) {
        if (!(err instanceof PipelineError) || err.message.startsWith(where(owner))) throw err;
        throw fail(`in steps: ${err.message}`);
      }
    },
  };
}

function prepare(
  cfg: ExecutorConfigLike,
  registry: ExecutorRegistry,
  baseDeps: ExecutorDeps,
  nesting?: NestingContext,
): CompiledNode {
  const deps: ExecutorDeps = { ...baseDeps, pipelines: nestedPipelines(cfg, nesting, registry, baseDeps) };
  const def = registry.get(cfg.type);
  if (!def) throw unknownType(cfg, registry);
  const settings = resolvedSettings(cfg, deps.config);
  const common = commonSettings(cfg, settings, registry);
  const read = withChoiceFallbacks(
    cfg.type,
    def.settings as v.GenericSchema,
    withoutEmptyValues(splitSettings(settings, def.readsCommonSettings).own),
  );
  const own = v.safeParse(def.settings, read.settings);
  if (!own.success) throw new PipelineError(`${where(cfg)}: invalid settings: ${issuesText(own.issues)}`);
  let condition: CompiledCondition | undefined;
  if (common.condition !== undefined && common.condition.trim() !== "") {
    try {
      condition = compileCondition(common.condition);
    } catch (err) {
      throw new PipelineError(`${where(cfg)}: invalid condition: ${(err as Error).message}`);
    }
  }
  let instance: ExecutorInstance;
  try {
    instance = def.create(cfg.id, own.output, deps);
  } catch (err) {
    if (err instanceof PipelineError) throw err;
    throw new PipelineError(`${where(cfg)}: ${(err as Error).message}`);
  }
  return {
    id: cfg.id,
    type: cfg.type,
    instance,
    common,
    condition,
    warnings: [...read.warnings, ...(instance.compileWarnings ?? [])],
  };
}

/**
 * The executor the source worker crawls: the first enabled one whose type is in the "input" category AND can crawl.
 * ContentFlow took the first executor of the catalog's "input" category, even content retrievers that cannot crawl.
 */
export function findInputExecutor(
  def: PipelineDefinition,
  registry: ExecutorRegistry,
  config?: Config,
): ExecutorConfig | undefined {
  return def.executors.find((cfg) => {
    const type = registry.get(cfg.type);
    return type?.category === "input" && type.crawls === true && executorEnabled(cfg, registry, config);
  });
}

export function compilePipeline(
  def: PipelineDefinition,
  opts: {
    registry: ExecutorRegistry;
    deps: ExecutorDeps;
    excludeExecutor?: string | null;
    /** Set by deps.pipelines when compiling a nested pipeline. */
    nesting?: NestingContext;
  },
): CompiledPipeline {
  const { registry, deps } = opts;
  const nesting = opts.nesting ?? topNesting(def);
  const exclude = opts.excludeExecutor || null;
  const warnings: string[] = [];
  if (!opts.nesting) warnings.push(...yamlNotes(def).map((n) => `YAML ${n}`));
  const shape = definitionGraph(def);
  warnings.push(...shape.warnings);
  const inGraph = new Set(shape.nodes);
  for (const cfg of def.executors) {
    if (!inGraph.has(cfg.id) && cfg.id !== exclude) {
      warnings.push(`executor '${cfg.id}' is not connected and never runs`);
    }
  }
  const disabled = new Set<string>();
  for (const cfg of def.executors) {
    if (cfg.id === exclude || !inGraph.has(cfg.id)) continue;
    if (!registry.get(cfg.type)) throw unknownType(cfg, registry);
    if (!executorEnabled(cfg, registry, deps.config)) {
      disabled.add(cfg.id);
      warnings.push(`executor '${cfg.id}' is disabled; its predecessors feed its successors`);
    }
  }
  const graph = runGraph(def, { exclude, disabled });
  const nodes = new Map<string, CompiledNode>();
  try {
    for (const id of graph.order) {
      const cfg = def.executors.find((e) => e.id === id)!;
      const node = prepare(cfg, registry, deps, nesting);
      nodes.set(id, node);
      for (const name of unknownSettings(cfg, registry)) {
        warnings.push(`executor '${id}' (${cfg.type}): unknown setting '${name}' is ignored`);
      }
      for (const w of [...(node.warnings ?? []), ...(node.condition?.warnings ?? [])]) {
        warnings.push(`executor '${id}' (${cfg.type}): ${w}`);
      }
      // Inline steps had ${VAR} applied with their owner (which warned already).
      const refs = alreadyResolved.has(cfg) ? [] : unsetReferences(cfg.settings ?? {}, executorEnv(cfg), "settings");
      for (const ref of refs) {
        warnings.push(
          `executor '${id}' (${cfg.type}): ${ref.where}: environment variable ${ref.name} is not set; the text ` +
            `'\${${ref.name}}' is used as it is, as in ContentFlow`,
        );
      }
      const readsItself = registry.get(cfg.type)?.readsCommonSettings?.includes("continue_on_error");
      if (splitSettings(cfg.settings ?? {}).common.continue_on_error !== undefined && !readsItself) {
        warnings.push(
          `executor '${id}' (${cfg.type}): continue_on_error is ignored, as in ContentFlow: an item error fails the ` +
            "pipeline unless fail_pipeline_on_error is false (then the item passes on with a failed log entry)",
        );
      }
    }
  } catch (err) {
    for (const node of nodes.values()) void node.instance.close?.()?.catch(() => undefined);
    throw err;
  }
  for (const warning of warnings) deps.logger.warn("pipeline definition", { pipeline: def.name, warning });
  let closed = false;
  return {
    name: def.name,
    nodes,
    graph,
    order: graph.order,
    warnings,
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...nodes.values()].map((n) => n.instance.close?.()));
    },
  };
}
