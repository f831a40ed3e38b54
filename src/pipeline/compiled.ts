// What compiling a pipeline definition produces (compile.ts) and the runner consumes (runner.ts).
import type { ExecutorInstance } from "../executors/types.ts";
import type { CommonSettings } from "./common-settings.ts";
import type { CompiledCondition } from "./condition.ts";
import type { RunGraph } from "./graph.ts";

export interface CompiledNode {
  id: string;
  type: string;
  instance: ExecutorInstance;
  common: CommonSettings;
  condition?: CompiledCondition;
  /** Settings read another way than written (a choice outside its options that ContentFlow reads as an option). */
  warnings?: string[];
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
