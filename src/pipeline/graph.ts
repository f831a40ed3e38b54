// The executor graph of a pipeline definition, and the graph actually run once the input executor (already run by
// the source worker) is removed and disabled executors are bridged. Every node runs once, after all its
// predecessors, on the concatenation of their outputs (in `preds` order) — the semantics of a `join` edge.
import { PipelineError } from "./errors.ts";

/** Pseudo-node standing for the task's input items. */
export const TASK_INPUT = "\u0000task-input";

/** The parts of a pipeline definition (definition.ts) that shape its graph. */
export interface GraphSource {
  executors: readonly { id: string }[];
  execution_sequence?: readonly string[] | null;
  edges?: readonly { from: readonly string[]; to: readonly string[]; type?: string }[] | null;
}

/** Edge types ContentFlow knows; it runs any other as sequential, and so do we (every edge joins here). */
const EDGE_TYPES = new Set(["sequential", "parallel", "join"]);

export interface DefinitionGraph {
  /** Executor ids in the graph, in definition order. */
  nodes: string[];
  /** Ordered predecessors per node (first mention in edges / the sequence first). */
  preds: Map<string, string[]>;
  /** Executors no edge or sequence mentions; ContentFlow never runs them either. */
  unreferenced: string[];
  /** What the document says that ContentFlow (and we) read another way: unknown edge types, undefined ids. */
  warnings: string[];
}

function pushUnique(list: string[], id: string): void {
  if (!list.includes(id)) list.push(id);
}

export function definitionGraph(def: GraphSource): DefinitionGraph {
  const ids = def.executors.map((e) => e.id);
  const known = new Set(ids);
  const preds = new Map<string, string[]>();
  const referenced = new Set<string>();
  const warnings: string[] = [];
  /** Ids that edges name but the pipeline does not define, with where each was first named. */
  const missing = new Map<string, string>();
  const connect = (from: string, to: string, where: string) => {
    for (const id of [from, to]) {
      if (!known.has(id) && !missing.has(id)) missing.set(id, where);
    }
    if (from === to) throw new PipelineError(`${where} connects executor '${from}' to itself`);
    for (const id of [from, to]) if (known.has(id)) referenced.add(id);
    const list = preds.get(to) ?? [];
    pushUnique(list, from);
    preds.set(to, list);
  };

  if (def.edges) {
    def.edges.forEach((edge, i) => {
      if (edge.type !== undefined && !EDGE_TYPES.has(edge.type)) {
        warnings.push(
          `edges[${i}]: unknown edge type '${edge.type}' runs as sequential, as in ContentFlow (write type: ` +
            "sequential, parallel or join; conditions go in the target executor's settings.condition)",
        );
      }
      for (const a of edge.from) for (const b of edge.to) connect(a, b, `edges[${i}]`);
    });
    if (def.edges.length === 0) {
      if (ids.length > 1) {
        throw new PipelineError(`\`edges\` is empty but the pipeline has ${ids.length} executors; connect them`);
      }
      referenced.add(ids[0]);
    }
  } else if (def.execution_sequence && def.execution_sequence.length > 0) {
    // Ids the pipeline does not define are left out (ContentFlow skips their edges, so what follows never ran).
    const seq = def.execution_sequence.filter((id, i) => {
      if (known.has(id)) return true;
      warnings.push(
        `execution_sequence[${i}] names executor '${id}', which the pipeline does not define; it is left out and ` +
          "its neighbours are connected (ContentFlow skipped its edges, so the executors after it never ran)",
      );
      return false;
    });
    if (seq.length === 0) throw new PipelineError("execution_sequence names no executor the pipeline defines");
    const inSeq = new Set<string>();
    seq.forEach((id, i) => {
      if (inSeq.has(id)) throw new PipelineError(`execution_sequence lists executor '${id}' more than once`);
      inSeq.add(id);
      referenced.add(id);
      if (i > 0) connect(seq[i - 1], id, `execution_sequence[${def.execution_sequence!.indexOf(id)}]`);
    });
  } else if (ids.length === 1) {
    referenced.add(ids[0]);
  } else {
    throw new PipelineError(
      `the pipeline has ${ids.length} executors but neither \`edges\` nor \`execution_sequence\` to order them`,
    );
  }

  // An undefined id is bridged like a disabled executor: its predecessors feed its successors.
  for (const [id, where] of missing) {
    warnings.push(
      `${where} names executor '${id}', which the pipeline does not define; its edges are skipped, as in ` +
        "ContentFlow, and the executors before it feed the ones after it (ContentFlow never ran those)",
    );
  }
  for (
    let round = 0;
    round <= missing.size && [...preds.values()].some((l) => l.some((p) => missing.has(p)));
    round++
  ) {
    for (const id of missing.keys()) {
      replacePred(preds, id, (preds.get(id) ?? []).filter((p) => p !== id));
    }
  }
  for (const id of missing.keys()) preds.delete(id);
  for (const [id, list] of preds) preds.set(id, list.filter((p) => !missing.has(p) && p !== id));

  const nodes = ids.filter((id) => referenced.has(id));
  for (const id of nodes) if (!preds.has(id)) preds.set(id, []);
  topologicalOrder(nodes, preds);
  const roots = nodes.filter((id) => preds.get(id)!.length === 0);
  if (roots.length > 1) {
    throw new PipelineError(
      `the pipeline has several entry executors (${roots.join(", ")}); ContentFlow would start at one of them ` +
        `arbitrarily — connect them so that exactly one executor has no incoming edge`,
    );
  }
  return { nodes, preds, unreferenced: ids.filter((id) => !referenced.has(id)), warnings };
}

/** Kahn's algorithm, ties broken by definition order; throws on a cycle. */
export function topologicalOrder(nodes: string[], preds: Map<string, string[]>): string[] {
  const indegree = new Map(nodes.map((id) => [id, (preds.get(id) ?? []).filter((p) => p !== TASK_INPUT).length]));
  const order: string[] = [];
  const done = new Set<string>();
  while (order.length < nodes.length) {
    const next = nodes.find((id) => !done.has(id) && indegree.get(id) === 0);
    if (next === undefined) {
      const cyclic = nodes.filter((id) => !done.has(id));
      throw new PipelineError(`the pipeline has a cycle through: ${cyclic.join(", ")}`);
    }
    done.add(next);
    order.push(next);
    for (const id of nodes) {
      if ((preds.get(id) ?? []).includes(next)) indegree.set(id, indegree.get(id)! - 1);
    }
  }
  return order;
}

export interface RunGraph {
  /** Executors to run, in a topological order (ties in definition order). */
  order: string[];
  /** Ordered predecessors; TASK_INPUT marks "receives the task's input". */
  preds: Map<string, string[]>;
  succs: Map<string, string[]>;
  /** Nodes without successors, in definition order: the result is their outputs concatenated. */
  sinks: string[];
}

/** Replaces `id` in every predecessor list by `replacement` (in place, keeping order and uniqueness). */
function replacePred(preds: Map<string, string[]>, id: string, replacement: string[]): void {
  for (const [node, list] of preds) {
    const at = list.indexOf(id);
    if (at < 0) continue;
    const merged: string[] = [];
    for (const p of [...list.slice(0, at), ...replacement, ...list.slice(at + 1)]) pushUnique(merged, p);
    preds.set(node, merged);
  }
}

export function runGraph(
  def: GraphSource,
  opts: { exclude?: string | null; disabled: Set<string> },
): RunGraph {
  const g = definitionGraph(def);
  const preds = new Map<string, string[]>();
  for (const id of g.nodes) {
    const list = g.preds.get(id)!;
    preds.set(id, list.length === 0 ? [TASK_INPUT] : [...list]);
  }
  let nodes = [...g.nodes];
  const remove = (id: string, replacement: string[]) => {
    nodes = nodes.filter((n) => n !== id);
    preds.delete(id);
    replacePred(preds, id, replacement);
  };
  if (opts.exclude) {
    if (!def.executors.some((e) => e.id === opts.exclude)) {
      throw new PipelineError(
        `the task's input executor '${opts.exclude}' is not in the pipeline (was the pipeline changed after the task was queued?)`,
      );
    }
    // Its successors receive the task's input in its place, joins that list it included (ContentFlow removed only
    // single-id edges, so such a join kept a dangling id).
    if (nodes.includes(opts.exclude)) remove(opts.exclude, [TASK_INPUT]);
  }
  for (const id of [...nodes]) {
    if (opts.disabled.has(id)) remove(id, preds.get(id)!);
  }
  const order = topologicalOrder(nodes, preds);
  const succs = new Map(nodes.map((id) => [id, nodes.filter((n) => preds.get(n)!.includes(id))]));
  return { order, preds, succs, sinks: nodes.filter((id) => succs.get(id)!.length === 0) };
}
