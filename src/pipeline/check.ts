// Checks a pipeline document without running it: parse, validate the structure, and create every executor against
// the registry (settings validated, conditions compiled, no I/O), collecting one problem per executor instead of
// stopping at the first. Used by `contentflow-worker pipeline check`.
import type { DataFieldRef, ExecutorDeps } from "../executors/types.ts";
import type { ExecutorRegistry } from "../executors/registry.ts";
import { compilePipeline, createExecutor, executorEnabled, findInputExecutor, unknownSettings } from "./compile.ts";
import { type ParseOptions, parsePipelineYaml, type PipelineDefinition, yamlNotes } from "./definition.ts";
import { definitionGraph } from "./graph.ts";
import { parseYamlDocument } from "./yaml.ts";

export interface CheckProblem {
  /** The executor at fault, when there is one. */
  executor?: string;
  /** The setting at fault, when the message names one. */
  setting?: string;
  message: string;
}

export interface PipelineCheck {
  /** The pipeline's name (from the YAML). */
  pipeline?: string;
  valid: boolean;
  problems: CheckProblem[];
  /** Things that do not stop the pipeline from running (unknown settings, executors that never run, …). */
  warnings: string[];
}

export interface CheckOptions {
  registry: ExecutorRegistry;
  deps: ExecutorDeps;
  env?: ParseOptions["env"];
}

/** Strips the "executor 'x' (type): " prefix our errors carry, since the problem names the executor itself. */
function withoutExecutorPrefix(message: string, id: string): string {
  const head = `executor '${id}'`;
  if (!message.startsWith(head)) return message;
  let rest = message.slice(head.length);
  const type = /^ \([^)]*\)/.exec(rest);
  if (type) rest = rest.slice(type[0].length);
  return rest.startsWith(": ") ? rest.slice(2) : message;
}

/** The first setting path named by an "invalid settings: path: message" error. */
function settingOf(message: string): string | undefined {
  return /invalid settings: ([A-Za-z0-9_.[\]-]+): /.exec(message)?.[1];
}

function checkDefinition(def: PipelineDefinition, opts: CheckOptions): PipelineCheck {
  const problems: CheckProblem[] = [];
  const warnings: string[] = [];
  const shape = definitionGraph(def);
  const inGraph = new Set(shape.nodes);
  for (const cfg of def.executors) {
    if (!inGraph.has(cfg.id)) continue;
    if (!opts.registry.get(cfg.type)) {
      problems.push({ executor: cfg.id, message: `unknown executor type '${cfg.type}'` });
      continue;
    }
    try {
      if (!executorEnabled(cfg, opts.registry)) continue;
      const instance = createExecutor(cfg, opts.registry, opts.deps, def);
      void instance.close?.()?.catch(() => undefined);
    } catch (err) {
      const message = withoutExecutorPrefix((err as Error).message, cfg.id);
      const setting = settingOf(message) ?? (/settings\.enabled/.test(message) ? "enabled" : undefined);
      problems.push({ executor: cfg.id, ...(setting ? { setting } : {}), message });
      continue;
    }
  }
  if (problems.length === 0) {
    // Everything the per-executor pass cannot see (the run graph with disabled executors bridged).
    try {
      const compiled = compilePipeline(def, opts);
      warnings.push(...compiled.warnings);
      warnings.push(...unwrittenInputWarnings(def, opts));
      void compiled.close().catch(() => undefined);
    } catch (err) {
      problems.push({ message: (err as Error).message });
    }
  } else {
    warnings.push(...yamlNotes(def).map((n) => `YAML ${n}`), ...shape.warnings);
    for (const cfg of def.executors) {
      if (!inGraph.has(cfg.id)) warnings.push(`executor '${cfg.id}' is not connected and never runs`);
      else if (opts.registry.get(cfg.type)) {
        for (const name of unknownSettings(cfg, opts.registry)) {
          warnings.push(`executor '${cfg.id}' (${cfg.type}): unknown setting '${name}' is ignored`);
        }
      }
    }
  }
  return { pipeline: def.name, valid: problems.length === 0, problems, warnings };
}

/** The data path a field reference names in `settings`; undefined when it is not a plain text (e.g. `${VAR}`). */
function fieldPath(ref: DataFieldRef, settings: Record<string, unknown>): string | undefined {
  if ("path" in ref) return ref.path;
  const raw = settings[ref.setting];
  const value = raw === undefined || raw === null || raw === "" ? ref.fallback : raw;
  if (typeof value !== "string" || value.includes("${")) return undefined;
  return value.trim() + (ref.suffix ?? "");
}

/** Whether writing `written` gives an item the field `read` (the same path, one inside it, or one it contains). */
function provides(written: string, read: string): boolean {
  return written === read || read.startsWith(`${written}.`) || written.startsWith(`${read}.`);
}

/**
 * Warnings for executors that read a data field no executor before them writes (a step reading data.markdown after
 * an extractor that writes pdf_output). Conservative: only where the items come from the pipeline's crawling input
 * executor (so they start with no data) and every executor before the reader declares all it writes
 * (ExecutorDefinition.dataFields.writes); field names set through ${VAR} are not judged.
 */
export function unwrittenInputWarnings(def: PipelineDefinition, opts: CheckOptions): string[] {
  const input = findInputExecutor(def, opts.registry, opts.deps.config);
  if (!input) return [];
  const graph = definitionGraph(def);
  const byId = new Map(def.executors.map((e) => [e.id, e]));
  const warnings: string[] = [];
  for (const cfg of def.executors) {
    const reads = opts.registry.get(cfg.type)?.dataFields?.reads ?? [];
    if (reads.length === 0 || cfg.id === input.id || !graph.nodes.includes(cfg.id)) continue;
    // Every executor before this one, and whether they all start at the input executor.
    const before = new Set<string>();
    const stack = [...(graph.preds.get(cfg.id) ?? [])];
    let rootsOk = stack.length > 0;
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (before.has(id)) continue;
      before.add(id);
      const preds = graph.preds.get(id) ?? [];
      if (preds.length === 0 && id !== input.id) rootsOk = false;
      stack.push(...preds);
    }
    if (!rootsOk) continue;
    const written: string[] = [];
    let known = true;
    for (const id of before) {
      const w = byId.get(id)!;
      const writes = opts.registry.get(w.type)?.dataFields?.writes;
      const paths = writes?.map((ref) => fieldPath(ref, w.settings ?? {}));
      if (!paths || paths.some((p) => p === undefined)) {
        known = false;
        break;
      }
      written.push(...(paths as string[]));
    }
    if (!known) continue;
    for (const ref of reads) {
      const path = fieldPath(ref, cfg.settings ?? {});
      if (path === undefined || written.some((w) => provides(w, path))) continue;
      const setting = "setting" in ref ? ` (${ref.setting})` : "";
      const have = [...new Set(written)];
      warnings.push(
        `executor '${cfg.id}' (${cfg.type}): reads data.${path}${setting}, which no executor before it writes ` +
          `(they write: ${have.length ? have.map((w) => `data.${w}`).join(", ") : "nothing"})`,
      );
    }
  }
  return warnings;
}

/** The names of the pipelines a document holds when it is a `pipelines:` list (checked one by one). */
function listedPipelineNames(text: string): string[] | undefined {
  let doc: unknown;
  try {
    doc = parseYamlDocument(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return undefined;
  const record = doc as Record<string, unknown>;
  if (record.pipeline !== undefined || !Array.isArray(record.pipelines) || record.pipelines.length < 2) {
    return undefined;
  }
  const names = record.pipelines.map((p) => (p as Record<string, unknown> | null)?.name);
  return names.every((n) => typeof n === "string") && new Set(names).size === names.length
    ? names as string[]
    : undefined;
}

/**
 * Checks the pipeline YAML `text`. A `pipelines:` list with several named pipelines gives one result per pipeline;
 * every other document gives one result (the pipeline the worker would run).
 */
export function checkPipelineYaml(text: string, opts: CheckOptions): PipelineCheck[] {
  const names = listedPipelineNames(text) ?? [undefined];
  return names.map((name) => {
    let def: PipelineDefinition;
    try {
      def = parsePipelineYaml(text, { env: opts.env, name });
    } catch (err) {
      return { pipeline: name, valid: false, problems: [{ message: (err as Error).message }], warnings: [] };
    }
    return checkDefinition(def, opts);
  });
}
