// Public API of the pipeline engine: parse a ContentFlow pipeline YAML, compile it against an executor registry,
// run it on a batch of content items. See docs/pipelines.md for the semantics and the differences from ContentFlow.
export { PipelineError } from "./errors.ts";
export {
  type Edge,
  type ExecutorConfig,
  type ParseOptions,
  parsePipelineYaml,
  type PipelineDefinition,
  validatePipelineDefinition,
} from "./definition.ts";
export {
  type CompiledNode,
  type CompiledPipeline,
  compilePipeline,
  createExecutor,
  type ExecutorConfigLike,
  executorEnabled,
  findInputExecutor,
} from "./compile.ts";
export { type ExecutorOutput, type PipelineEvent, type PipelineResult, runPipeline } from "./runner.ts";
export { compileCondition, type CompiledCondition, ConditionError } from "./condition.ts";
export { defaultRegistry, ExecutorRegistry } from "../executors/registry.ts";
export { isInputExecutor } from "../executors/types.ts";
