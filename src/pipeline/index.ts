// Compile a pipeline definition into a DAG of executor instances and run it on a batch of content items.
import * as v from "valibot";
import { type Content, nowIso } from "./content.ts";
import { compileCondition, type CompiledCondition } from "./condition.ts";
import { type ExecutorConfig, issuesText, type PipelineDefinition, PipelineError, parsePipelineYaml } from "./definition.ts";
import type { ExecutorDeps, ExecutorInstance } from "../executors/types.ts";
import { isInputExecutor } from "../executors/types.ts";
import { defaultRegistry, ExecutorRegistry } from "../executors/registry.ts";
import type { Logger } from "../log/logger.ts";

export { defaultRegistry, ExecutorRegistry, parsePipelineYaml, PipelineError };
export type { ExecutorConfig, PipelineDefinition };

/** Settings every executor accepts; the runner applies them, executors never see them. */
const COMMON_KEYS = ["enabled", "condition", "fail_pipeline_on_error", "debug_mode", "max_concurrent", "timeout_secs", "continue_on_error"];

interface Node {
  id: string;
  instance: ExecutorInstance;
  condition?: CompiledCondition;
  failPipeline: boolean;
  preds: string[];
  succs: string[];
}

export interface CompiledPipeline {
  name: string;
  nodes: Map<string, Node>;
  order: string[];
  roots: string[];
  sinks: string[];
  close(): Promise<void>;
}

export interface PipelineEvent {
  timestamp: string;
  event_type: "executor_invoked" | "executor_completed" | "executor_failed" | "executor_skipped";
  executor_id: string;
  error?: string;
  data?: Record<string, unknown>;
}

export interface ExecutorOutput {
  status: "completed" | "failed" | "skipped";
  duration_ms: number;
  items_in: number;
  items_out: number;
  error?: string;
}

export interface PipelineResult {
  status: "completed" | "failed" | "cancelled";
  content: Content[];
  events: PipelineEvent[];
  executor_outputs: Record<string, ExecutorOutput>;
  error?: string;
  start_time: string;
  end_time: string;
  duration_seconds: number;
}

function asList(x: string | string[] | Array<{ target: string }>): string[] {
  if (typeof x === "string") return [x];
  return x.map((e) => (typeof e === "string" ? e : e.target));
}

function isEnabled(cfg: ExecutorConfig): boolean {
  const e = cfg.settings?.enabled;
  return !(e === false || (typeof e === "string" && e.toLowerCase() === "false"));
}

/** Edge list from `edges` (when present) or `execution_sequence`. */
function edgesOf(def: PipelineDefinition): Array<[string, string]> {
  const ids = new Set(def.executors.map((e) => e.id));
  const out: Array<[string, string]> = [];
  const add = (a: string, b: string) => {
    for (const id of [a, b]) if (!ids.has(id)) throw new PipelineError(`an edge names executor '${id}', which the pipeline does not define`);
    if (a !== b) out.push([a, b]);
  };
  if (def.edges) {
    for (const edge of def.edges) {
      if (Array.isArray(edge.to) && edge.to.some((t) => typeof t === "object" && t && "condition" in t && t.condition)) {
        throw new PipelineError("edge conditions are not supported; put settings.condition on the target executor");
      }
      for (const a of asList(edge.from)) for (const b of asList(edge.to)) add(a, b);
    }
  } else if (def.execution_sequence?.length) {
    const seq = def.execution_sequence;
    for (const id of seq) if (!ids.has(id)) throw new PipelineError(`execution_sequence names executor '${id}', which the pipeline does not define`);
    for (let i = 1; i < seq.length; i++) add(seq[i - 1], seq[i]);
  } else if (def.executors.length > 1) {
    throw new PipelineError("the pipeline has several executors but neither edges nor execution_sequence");
  }
  return out;
}

/** Remove `id` from the graph, connecting each predecessor to each successor. */
function bridge(nodes: Set<string>, edges: Array<[string, string]>, id: string): Array<[string, string]> {
  const preds = edges.filter(([, b]) => b === id).map(([a]) => a);
  const succs = edges.filter(([a]) => a === id).map(([, b]) => b);
  nodes.delete(id);
  const kept = edges.filter(([a, b]) => a !== id && b !== id);
  for (const p of preds) for (const s of succs) if (!kept.some(([a, b]) => a === p && b === s)) kept.push([p, s]);
  return kept;
}

export function createExecutor(cfg: ExecutorConfig, registry: ExecutorRegistry, deps: ExecutorDeps): ExecutorInstance {
  const def = registry.get(cfg.type);
  if (!def) throw new PipelineError(`executor '${cfg.id}': unknown type '${cfg.type}'`);
  const own = Object.fromEntries(Object.entries(cfg.settings ?? {}).filter(([k]) => !COMMON_KEYS.includes(k)));
  const parsed = v.safeParse(def.settings, own);
  if (!parsed.success) throw new PipelineError(`executor '${cfg.id}' (${cfg.type}): invalid settings: ${issuesText(parsed.issues)}`);
  return def.create(cfg.id, parsed.output, deps);
}

/** First enabled executor of category input that can crawl (the Python worker took any "input" one: W11). */
export function findInputExecutor(def: PipelineDefinition, registry: ExecutorRegistry): ExecutorConfig | undefined {
  return def.executors.find((e) => isEnabled(e) && registry.get(e.type)?.category === "input");
}

export function compilePipeline(
  def: PipelineDefinition,
  opts: { registry: ExecutorRegistry; deps: ExecutorDeps; excludeExecutor?: string | null },
): CompiledPipeline {
  let edges = edgesOf(def);
  const ids = new Set(def.executors.map((e) => e.id));
  if (opts.excludeExecutor && ids.has(opts.excludeExecutor)) edges = bridge(ids, edges, opts.excludeExecutor);
  for (const cfg of def.executors) if (ids.has(cfg.id) && !isEnabled(cfg)) edges = bridge(ids, edges, cfg.id);
  // Executors not reachable by any edge only run when the pipeline is a single executor (ContentFlow semantics).
  const connected = new Set(edges.flat());
  const live = [...ids].filter((id) => connected.has(id) || (edges.length === 0));

  const nodes = new Map<string, Node>();
  for (const id of live) {
    const cfg = def.executors.find((e) => e.id === id)!;
    const condition = cfg.settings?.condition;
    let compiled: CompiledCondition | undefined;
    if (typeof condition === "string" && condition.trim()) {
      try {
        compiled = compileCondition(condition);
      } catch (err) {
        throw new PipelineError(`executor '${id}': invalid condition: ${(err as Error).message}`);
      }
    }
    const fail = cfg.settings?.fail_pipeline_on_error;
    nodes.set(id, {
      id,
      instance: createExecutor(cfg, opts.registry, opts.deps),
      condition: compiled,
      failPipeline: !(fail === false || fail === "false"),
      preds: edges.filter(([, b]) => b === id).map(([a]) => a),
      succs: edges.filter(([a]) => a === id).map(([, b]) => b),
    });
  }
  // Kahn's algorithm: topological order, and a cycle check.
  const indeg = new Map([...nodes.keys()].map((id) => [id, nodes.get(id)!.preds.length]));
  const order: string[] = [];
  const queue = [...nodes.keys()].filter((id) => indeg.get(id) === 0);
  while (queue.length) {
    const id = queue.shift()!;
    order.push(id);
    for (const s of nodes.get(id)!.succs) {
      indeg.set(s, indeg.get(s)! - 1);
      if (indeg.get(s) === 0) queue.push(s);
    }
  }
  if (order.length !== nodes.size) {
    const cyclic = [...nodes.keys()].filter((id) => !order.includes(id));
    throw new PipelineError(`the pipeline has a cycle through: ${cyclic.join(", ")}`);
  }
  return {
    name: def.name,
    nodes,
    order,
    roots: order.filter((id) => nodes.get(id)!.preds.length === 0),
    sinks: order.filter((id) => nodes.get(id)!.succs.length === 0),
    close: async () => {
      for (const n of nodes.values()) await n.instance.close?.();
    },
  };
}

export async function runPipeline(
  p: CompiledPipeline,
  input: Content[],
  opts: { signal: AbortSignal; logger: Logger },
): Promise<PipelineResult> {
  const start = Date.now();
  const events: PipelineEvent[] = [];
  const outputs: Record<string, ExecutorOutput> = {};
  const produced = new Map<string, Content[]>();
  const finish = (status: PipelineResult["status"], content: Content[], error?: string): PipelineResult => ({
    status,
    content,
    events,
    executor_outputs: outputs,
    error,
    start_time: new Date(start).toISOString(),
    end_time: nowIso(),
    duration_seconds: (Date.now() - start) / 1000,
  });
  for (const id of p.order) {
    if (opts.signal.aborted) {
      const why = opts.signal.reason instanceof Error ? opts.signal.reason.message : "cancelled";
      return finish("cancelled", [], `pipeline cancelled before '${id}': ${why}`);
    }
    const node = p.nodes.get(id)!;
    // Each branch gets its own copy, so executors on parallel branches cannot see each other's changes.
    const items: Content[] = node.preds.length === 0 ? structuredClone(input) : node.preds.flatMap((pr) => structuredClone(produced.get(pr) ?? []));
    const t0 = Date.now();
    events.push({ timestamp: nowIso(), event_type: "executor_invoked", executor_id: id });
    let selected = items;
    let skipped: Content[] = [];
    try {
      if (node.condition) {
        selected = items.filter((c) => node.condition!.test(c));
        skipped = items.filter((c) => !selected.includes(c));
      }
      const result = selected.length || items.length === 0 ? await node.instance.process(selected, { executorId: id, pipelineName: p.name, signal: opts.signal, logger: opts.logger }) : [];
      const out = [...result, ...skipped];
      produced.set(id, out);
      outputs[id] = { status: "completed", duration_ms: Date.now() - t0, items_in: items.length, items_out: out.length };
      events.push({ timestamp: nowIso(), event_type: "executor_completed", executor_id: id, data: { items_in: items.length, items_out: out.length, skipped_by_condition: skipped.length } });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      outputs[id] = { status: "failed", duration_ms: Date.now() - t0, items_in: items.length, items_out: 0, error: message };
      events.push({ timestamp: nowIso(), event_type: "executor_failed", executor_id: id, error: message });
      if (opts.signal.aborted) return finish("cancelled", [], `pipeline cancelled in '${id}': ${message}`);
      if (node.failPipeline) return finish("failed", [], `${id}: ${message}`);
      const t = nowIso();
      produced.set(id, items.map((c) => ({ ...c, executor_logs: [...(c.executor_logs ?? []), { executor_id: id, start_time: t, end_time: t, status: "failed", details: {}, errors: [message] }] })));
    }
  }
  const content = p.sinks.flatMap((s) => produced.get(s) ?? []);
  return finish("completed", p.order.length ? content : input);
}

export { isInputExecutor };
