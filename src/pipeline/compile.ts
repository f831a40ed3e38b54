// Definition → executable pipeline: executor instances with validated settings (${VAR} applied first), compiled
// conditions, and the run graph without the already-run input executor and with disabled executors bridged.
import * as v from "valibot";
import type { ExecutorDeps, ExecutorInstance } from "../executors/types.ts";
import type { ExecutorRegistry } from "../executors/registry.ts";
import { type CommonSettings, commonSettingsSchema, splitSettings } from "./common-settings.ts";
import { compileCondition, type CompiledCondition } from "./condition.ts";
import { type ExecutorConfig, executorEnv, type PipelineDefinition } from "./definition.ts";
import { substituteEnv, unsetReferences } from "./env.ts";
import { issuesText, PipelineError } from "./errors.ts";
import { definitionGraph, type RunGraph, runGraph } from "./graph.ts";
import { withoutEmptyValues } from "../executors/settings.ts";

/** An executor entry as in the YAML; hand-built ones may omit settings. */
export type ExecutorConfigLike = Pick<ExecutorConfig, "id" | "type"> & { settings?: Record<string, unknown> | null };

export interface CompiledNode {
  id: string;
  type: string;
  instance: ExecutorInstance;
  common: CommonSettings;
  condition?: CompiledCondition;
}

export interface CompiledPipeline {
  name: string;
  nodes: Map<string, CompiledNode>;
  graph: RunGraph;
  /** Executor ids in the order they may start (a topological order). */
  order: string[];
  /** Things worth logging once: executors that no edge reaches, disabled executors. */
  warnings: string[];
  /** Releases the executors' clients; the pipeline must not be run afterwards. */
  close(): Promise<void>;
}

function where(cfg: ExecutorConfigLike): string {
  return `executor '${cfg.id}' (${cfg.type})`;
}

/** Settings with ${VAR} applied (an unset variable stays literal, as in ContentFlow). */
function resolvedSettings(cfg: ExecutorConfigLike): Record<string, unknown> {
  return substituteEnv(cfg.settings ?? {}, executorEnv(cfg), `${where(cfg)}: settings`) as Record<string, unknown>;
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

/** Whether the executor is enabled; `enabled: "${FLAG}"` is resolved first. */
export function executorEnabled(cfg: ExecutorConfigLike, registry: ExecutorRegistry): boolean {
  const raw = cfg.settings?.enabled;
  if (raw === undefined || raw === null || raw === "") return true;
  const enabled = substituteEnv(raw, executorEnv(cfg), `${where(cfg)}: settings.enabled`);
  return commonSettings(cfg, { enabled }, registry).enabled;
}

/** Creates one executor: known type, ${VAR} applied, its own settings validated by its schema. */
export function createExecutor(
  cfg: ExecutorConfigLike,
  registry: ExecutorRegistry,
  deps: ExecutorDeps,
): ExecutorInstance {
  return prepare(cfg, registry, deps).instance;
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
  return Object.keys(splitSettings(cfg.settings ?? {}).own).filter((k) => !known.includes(k));
}

function prepare(cfg: ExecutorConfigLike, registry: ExecutorRegistry, deps: ExecutorDeps): CompiledNode {
  const def = registry.get(cfg.type);
  if (!def) throw unknownType(cfg, registry);
  const settings = resolvedSettings(cfg);
  const common = commonSettings(cfg, settings, registry);
  const own = v.safeParse(def.settings, withoutEmptyValues(splitSettings(settings).own));
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
  return { id: cfg.id, type: cfg.type, instance, common, condition };
}

/**
 * The executor the source worker crawls: the first enabled one whose type is in the "input" category AND can crawl.
 * ContentFlow took the first "input" executor, even content retrievers that cannot crawl (its bug W11).
 */
export function findInputExecutor(def: PipelineDefinition, registry: ExecutorRegistry): ExecutorConfig | undefined {
  return def.executors.find((cfg) => {
    const type = registry.get(cfg.type);
    return type?.category === "input" && type.crawls === true && executorEnabled(cfg, registry);
  });
}

export function compilePipeline(
  def: PipelineDefinition,
  opts: { registry: ExecutorRegistry; deps: ExecutorDeps; excludeExecutor?: string | null },
): CompiledPipeline {
  const { registry, deps } = opts;
  const exclude = opts.excludeExecutor || null;
  const warnings: string[] = [];
  const inGraph = new Set(definitionGraph(def).nodes);
  for (const cfg of def.executors) {
    if (!inGraph.has(cfg.id) && cfg.id !== exclude) {
      warnings.push(`executor '${cfg.id}' is not connected and never runs`);
    }
  }
  const disabled = new Set<string>();
  for (const cfg of def.executors) {
    if (cfg.id === exclude || !inGraph.has(cfg.id)) continue;
    if (!registry.get(cfg.type)) throw unknownType(cfg, registry);
    if (!executorEnabled(cfg, registry)) {
      disabled.add(cfg.id);
      warnings.push(`executor '${cfg.id}' is disabled; its predecessors feed its successors`);
    }
  }
  const graph = runGraph(def, { exclude, disabled });
  const nodes = new Map<string, CompiledNode>();
  try {
    for (const id of graph.order) {
      const cfg = def.executors.find((e) => e.id === id)!;
      const node = prepare(cfg, registry, deps);
      nodes.set(id, node);
      for (const w of node.condition?.warnings ?? []) warnings.push(`executor '${id}' (${cfg.type}): ${w}`);
      for (const ref of unsetReferences(cfg.settings ?? {}, executorEnv(cfg), "settings")) {
        warnings.push(
          `executor '${id}' (${cfg.type}): ${ref.where}: environment variable ${ref.name} is not set; the text ` +
            `'\${${ref.name}}' is used as it is, as in ContentFlow`,
        );
      }
      if (splitSettings(cfg.settings ?? {}).common.continue_on_error !== undefined) {
        warnings.push(
          `executor '${id}' (${cfg.type}): continue_on_error is ignored, as in ContentFlow: an item error fails the ` +
            "pipeline unless fail_pipeline_on_error is false (then the item passes on with a failed log entry)",
        );
      }
      for (const name of unknownSettings(cfg, registry)) {
        warnings.push(`executor '${id}' (${cfg.type}): unknown setting '${name}' is ignored`);
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
