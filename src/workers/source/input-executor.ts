// From a pipeline document to its input executor (the one the source worker crawls) and its polling interval.
import process from "node:process";
import type { PipelineDoc } from "../../model/documents.ts";
import type { ExecutorDeps, InputExecutorInstance } from "../../executors/types.ts";
import { isInputExecutor } from "../../executors/types.ts";
import { createExecutor, type ExecutorRegistry, findInputExecutor, parsePipelineYaml } from "../../pipeline/index.ts";
import { executorEnv } from "../../pipeline/definition.ts";
import { pipelineEnvPolicy, substituteEnv } from "../../pipeline/env.ts";
import type { SourceFailure } from "./failures.ts";
import { errorText } from "../../util/errors.ts";

export type { ExecutorRegistry };

export type ResolvedInput =
  | { ok: true; executorId: string; instance: InputExecutorInstance }
  | { ok: false; failure: SourceFailure };

/** Raw `polling_interval_seconds` → whole seconds > 0 (ints and numeric strings; anything else: undefined). */
export function parsePollingInterval(raw: unknown): number | undefined {
  const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function env(): Record<string, string | undefined> {
  return process.env as Record<string, string | undefined>;
}

/** The interval from the YAML (after ${ENV} substitution), or undefined when absent, invalid or unreadable. */
export function pollingIntervalOf(pipeline: PipelineDoc, registry: ExecutorRegistry): number | undefined {
  try {
    const input = findInputExecutor(parsePipelineYaml(pipeline.yaml, { env: env() }), registry);
    const raw = input?.settings?.polling_interval_seconds;
    if (!input || raw === undefined) return undefined;
    const inputEnv = executorEnv(input);
    const policy = pipelineEnvPolicy(undefined, inputEnv);
    return parsePollingInterval(substituteEnv(raw, inputEnv, `executor '${input.id}'`, policy));
  } catch {
    return undefined;
  }
}

export function resolveInputExecutor(
  pipeline: PipelineDoc,
  registry: ExecutorRegistry,
  deps: ExecutorDeps,
): ResolvedInput {
  const base = { pipelineId: pipeline.id, pipelineName: pipeline.name ?? null };
  let definition: ReturnType<typeof parsePipelineYaml>;
  try {
    definition = parsePipelineYaml(pipeline.yaml, { env: env() });
  } catch (err) {
    return {
      ok: false,
      failure: { ...base, kind: "pipeline_invalid", message: `pipeline '${pipeline.id}': ${errorText(err)}` },
    };
  }
  let input: ReturnType<typeof findInputExecutor>;
  try {
    input = findInputExecutor(definition, registry, deps.config);
  } catch (err) {
    return {
      ok: false,
      failure: { ...base, kind: "pipeline_invalid", message: `pipeline '${pipeline.id}': ${errorText(err)}` },
    };
  }
  if (!input) {
    const unknown = definition.executors.filter((e) => !registry.get(e.type));
    if (unknown.length > 0) {
      // Likely a typo in the input executor's type: say so rather than "no input executor".
      return {
        ok: false,
        failure: {
          ...base,
          kind: "executor_invalid",
          executorId: unknown[0].id,
          message: `pipeline '${pipeline.id}': unknown executor type ${
            unknown.map((e) => `'${e.type}' (executor '${e.id}')`).join(", ")
          }, and no enabled input executor that can crawl a source`,
        },
      };
    }
    return {
      ok: false,
      failure: {
        ...base,
        kind: "no_input_executor",
        message: `pipeline '${pipeline.id}' has no enabled input executor that can crawl a source ` +
          `(e.g. azure_blob_input_discovery)`,
      },
    };
  }
  let instance;
  try {
    instance = createExecutor(input, registry, deps);
  } catch (err) {
    return {
      ok: false,
      failure: {
        ...base,
        kind: "executor_invalid",
        executorId: input.id,
        message: `executor '${input.id}' (${input.type}) of pipeline '${pipeline.id}': ${errorText(err)}`,
      },
    };
  }
  if (!isInputExecutor(instance)) {
    return {
      ok: false,
      failure: {
        ...base,
        kind: "no_input_executor",
        executorId: input.id,
        message: `executor '${input.id}' (${input.type}) of pipeline '${pipeline.id}' cannot crawl a source`,
      },
    };
  }
  return { ok: true, executorId: input.id, instance };
}
