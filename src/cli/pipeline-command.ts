// `contentflow-worker pipeline check FILE...` / `pipeline check --pipeline ID`: parse and compile pipeline documents
// against the executor registry without running anything, and say what is wrong, per executor and setting.
// `contentflow-worker pipeline run`: argument parsing and output for src/pipeline/local-run.ts.
import process from "node:process";
import { readFileSync, statSync } from "node:fs";
import type { Command } from "./command.ts";
import { EXIT_FAILURE, EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs, UsageError } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { ConfigError } from "../config/load.ts";
import { configureLogging } from "../log/logger.ts";
import { rootLogger } from "../log/logger.ts";
import { checkPipelineYaml, type CheckProblem, type PipelineCheck } from "../pipeline/check.ts";
import { defaultRegistry } from "../executors/registry.ts";
import { openCosmosStore } from "../store/cosmos.ts";
import { readPipelineDoc } from "../store/pipelines.ts";
import { parseDotenv } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { parsePipelineYaml } from "../pipeline/definition.ts";
import { LocalRunError, type LocalRunResult, runLocally } from "../pipeline/local-run.ts";
import { closeSharedBrowser } from "../executors/browser.ts";
import { type Content, ContentSchema } from "../model/content.ts";
import { parseJsonInput } from "./json-input.ts";
import { ProgressLine } from "./progress-line.ts";
import { redactText } from "../util/redact.ts";
import { errorText } from "../util/errors.ts";
import { stringify as yamlStringify } from "yaml";
import * as v from "valibot";
import { RedriveAdmin } from "../redrive/admin.ts";
import { replayInput } from "../redrive/replay-input.ts";

/** Pipeline files larger than this are refused (a pipeline document is a few KiB; Cosmos caps items at 2 MB). */
const MAX_FILE_BYTES = 2 * 1024 * 1024;

/** --items input larger than this is refused. */
const MAX_ITEMS_BYTES = 16 * 1024 * 1024;

const HELP = `Usage: contentflow-worker pipeline check FILE... [--json] [--env-file PATH]
       contentflow-worker pipeline check --pipeline ID [--json] [--env-file PATH]
       contentflow-worker pipeline run FILE|--pipeline ID (--input PATH... | --items FILE|-) [--json|--yaml]
                                       [--executor-outputs] [--only EXECUTOR] [--env-file PATH]
       contentflow-worker pipeline run --execution ID [FILE|--pipeline ID] [--json|--yaml] [--executor-outputs]
                                       [--only EXECUTOR] [--env-file PATH]

Checks pipeline YAML without running anything: parses it, validates its structure (ids, edges, cycles, entry
point) and creates every executor against this build's executors (type known, settings valid, conditions
compiled). No service is called, except Cosmos DB to read the document with --pipeline.

  FILE             a pipeline YAML file (pipeline:, pipelines: or a bare definition), or a pipelines document as
                   JSON (its "yaml" field is checked). A pipelines: list of several named pipelines is checked
                   pipeline by pipeline.
  --pipeline ID    check the document with this id in the pipelines container (COSMOS_DB_* settings)
  --json           print {"valid": …, "results": [{"source", "pipeline", "valid", "problems": [{"executor",
                   "setting", "message"}], "warnings"}]} instead of lines
  --env-file PATH  read this .env file instead of ./.env (settings, and \${VAR} in pipeline settings)
  -h, --help       show this help

Output: one line per problem, "SOURCE: executor 'ID': MESSAGE" (or "SOURCE: MESSAGE" for the whole document),
"SOURCE: ok" for a valid pipeline, and "SOURCE: warning: …" for things that do not stop it from running.
\${VAR} references resolve against the environment, as on the worker.
Exit codes: 0 every pipeline is valid, 1 a problem was found (or a file or document could not be read), 2 usage
error, 78 invalid configuration.

pipeline run runs one pipeline in this process, with no queue and no Cosmos DB record, and prints the output items,
every executor's status, timing and item counts, and each item's executor log entries. Executors use this worker's
settings (services, OUTBOUND_ALLOWED_HOSTS, PIPELINE_ENV_ALLOWED_VARIABLES), so they give the worker's answers.

  FILE | --pipeline ID  the pipeline (as for check; of a pipelines: list, the one the worker would run)
  --input PATH       a local file (repeatable): it becomes the item blob discovery would make for a blob of that
                     name, size and content type, with its bytes where azure_blob_content_retriever puts them; the
                     pipeline's input executor and blob retrievers do not run
  --items FILE|-     content items as JSON (an item or a list), run as a task's input
  --execution ID     replay: the input of this stored execution (its task from the poison record when there is one,
                     else the item identifiers its execution record keeps), run through its pipeline as stored now
                     (or FILE / --pipeline ID); the record and the queues are left as they are
  --json | --yaml    print the whole result as JSON or YAML (default: a summary, then the output items as JSON)
  --executor-outputs also print the items after every executor
  --only EXECUTOR    run only this executor and those it depends on; its output is the output
Exit codes: 0 the pipeline completed, 1 it failed or is invalid, 2 usage error, 78 invalid configuration.`;

interface SourceResult extends PipelineCheck {
  source: string;
}

function readSourceText(path: string): string {
  const size = statSync(path).size;
  if (size > MAX_FILE_BYTES) {
    throw new Error(`the file is ${size} bytes; pipeline files are limited to ${MAX_FILE_BYTES}`);
  }
  const text = readFileSync(path, "utf8");
  // A pipelines document exported as JSON: check its yaml field.
  if (/^\s*\{/.test(text)) {
    try {
      const doc = JSON.parse(text) as { yaml?: unknown };
      if (typeof doc?.yaml === "string") return doc.yaml;
    } catch { /* not JSON: YAML flow mappings start with '{' too */ }
  }
  return text;
}

function unreadable(source: string, message: string): SourceResult {
  return { source, valid: false, problems: [{ message }], warnings: [] };
}

function problemLine(source: string, pipeline: string | undefined, p: CheckProblem): string {
  const where = pipeline !== undefined ? `${source} [${pipeline}]` : source;
  return p.executor !== undefined ? `${where}: executor '${p.executor}': ${p.message}` : `${where}: ${p.message}`;
}

export const pipelineCommand: Command = {
  name: "pipeline",
  summary: "Check pipeline YAML against this build's executors, or run a pipeline locally on files or items",
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === undefined) throw new UsageError("pipeline needs a subcommand: check or run");
    if (sub === "run") return await runCommand(rest);
    if (sub !== "check") throw new UsageError(`unknown pipeline subcommand '${sub}' (expected: check or run)`);
    const { flags, positionals } = parseArgs(
      rest,
      { json: "boolean", pipeline: "string", "env-file": "string" },
      10_000,
    );
    const pipelineId = flags.pipeline as string | undefined;
    if (pipelineId !== undefined && positionals.length > 0) {
      throw new UsageError("give either files or --pipeline ID, not both");
    }
    if (pipelineId === undefined && positionals.length === 0) {
      throw new UsageError("pipeline check needs at least one FILE or --pipeline ID");
    }
    const { config } = await loadEffectiveConfig(flags["env-file"] as string | undefined);
    // Compile warnings are reported in the output, not as log lines.
    configureLogging({ level: "error" });
    const check = (text: string) =>
      checkPipelineYaml(text, {
        registry: defaultRegistry(),
        deps: { config, logger: rootLogger.child({ role: "cli" }) },
        env: pipelineEnv(flags["env-file"] as string | undefined),
      });

    const results: SourceResult[] = [];
    if (pipelineId !== undefined) {
      if (!config.COSMOS_DB_ENDPOINT) {
        throw new ConfigError(["COSMOS_DB_ENDPOINT is missing: --pipeline reads the document from Cosmos DB"]);
      }
      const source = `pipeline ${pipelineId}`;
      const store = await openCosmosStore(config);
      try {
        const read = await readPipelineDoc(store.pipelines, pipelineId);
        if (read.kind === "not-found") results.push(unreadable(source, "no such pipeline document"));
        else if (read.kind === "malformed") results.push(unreadable(source, `malformed document: ${read.problem}`));
        else results.push(...check(read.doc.yaml).map((r) => ({ source, ...r })));
      } finally {
        store.close();
      }
    } else {
      for (const file of positionals) {
        let text: string;
        try {
          text = readSourceText(file);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          results.push(unreadable(file, e.code === "ENOENT" ? "no such file" : `cannot read: ${e.message}`));
          continue;
        }
        results.push(...check(text).map((r) => ({ source: file, ...r })));
      }
    }

    const valid = results.every((r) => r.valid);
    if (flags.json) {
      process.stdout.write(JSON.stringify({ valid, results }, null, 2) + "\n");
    } else {
      const lines: string[] = [];
      const multi = new Set(results.map((r) => r.source).filter((s, i, all) => all.indexOf(s) !== i));
      for (const r of results) {
        const pipeline = multi.has(r.source) ? r.pipeline : undefined;
        if (r.valid) lines.push(`${pipeline !== undefined ? `${r.source} [${pipeline}]` : r.source}: ok`);
        for (const p of r.problems) lines.push(problemLine(r.source, pipeline, p));
        for (const w of r.warnings) {
          lines.push(`${pipeline !== undefined ? `${r.source} [${pipeline}]` : r.source}: warning: ${w}`);
        }
      }
      process.stdout.write(lines.join("\n") + "\n");
    }
    return valid ? EXIT_OK : EXIT_FAILURE;
  },
};

/**
 * The environment ${VAR} in pipeline settings resolves against: the process environment, then the variables of the
 * .env file (--env-file, else ./.env when it exists), as the configuration reads them.
 */
export function pipelineEnv(envFile: string | undefined): Record<string, string | undefined> {
  const path = envFile ?? ".env";
  let fromFile: Record<string, string> = {};
  try {
    fromFile = parseDotenv(readFileSync(path, "utf8"));
  } catch (err) {
    // loadEffectiveConfig already refused a missing --env-file; a missing ./.env is no error.
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return { ...fromFile, ...(process.env as Record<string, string | undefined>) };
}

/** The pipeline YAML of FILE or of the document --pipeline ID. */
async function pipelineText(config: Config, file: string | undefined, id: string | undefined): Promise<string> {
  if (file !== undefined) {
    try {
      return readSourceText(file);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new LocalRunError(`${file}: ${e.code === "ENOENT" ? "no such file" : `cannot read: ${e.message}`}`);
    }
  }
  if (!config.COSMOS_DB_ENDPOINT) {
    throw new ConfigError(["COSMOS_DB_ENDPOINT is missing: --pipeline reads the document from Cosmos DB"]);
  }
  const store = await openCosmosStore(config);
  try {
    const read = await readPipelineDoc(store.pipelines, id!);
    if (read.kind === "not-found") throw new LocalRunError(`pipeline ${id}: no such pipeline document`);
    if (read.kind === "malformed") throw new LocalRunError(`pipeline ${id}: malformed document: ${read.problem}`);
    return read.doc.yaml;
  } finally {
    store.close();
  }
}

/** Content items from --items (a file, or - for standard input): one item or a list, each checked. */
function readItems(source: string): Content[] {
  const what = source === "-" ? "standard input" : source;
  let text: string;
  try {
    if (source !== "-" && statSync(source).size > MAX_ITEMS_BYTES) {
      throw new Error(`larger than ${MAX_ITEMS_BYTES} bytes`);
    }
    text = readFileSync(source === "-" ? 0 : source, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new LocalRunError(`--items ${what}: ${e.code === "ENOENT" ? "no such file" : e.message}`);
  }
  if (text.length > MAX_ITEMS_BYTES) throw new LocalRunError(`--items ${what}: larger than ${MAX_ITEMS_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = parseJsonInput(text, `--items ${what}`);
  } catch (err) {
    throw new LocalRunError(errorText(err));
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.map((item, i) => {
    const r = v.safeParse(ContentSchema, item);
    if (!r.success) {
      const issue = r.issues[0];
      const path = issue.path?.map((p) => String(p.key)).join(".") ?? "";
      throw new LocalRunError(`--items ${what}: item ${i}: ${path ? `${path}: ` : ""}${issue.message}`);
    }
    return r.output as Content;
  });
}

/** The report `--json` / `--yaml` print. */
function report(run: LocalRunResult) {
  const { result } = run;
  return {
    pipeline: result.pipeline_name,
    status: result.status,
    ...(result.error !== undefined ? { error: result.error } : {}),
    duration_seconds: result.duration_seconds,
    ...(run.replaced.length ? { replaced_by_local_files: run.replaced } : {}),
    warnings: run.warnings,
    executors: result.executor_outputs,
    ...(run.outputs ? { executor_outputs: run.outputs } : {}),
    items: result.content,
  };
}

function textReport(run: LocalRunResult): string {
  const { result } = run;
  const lines: string[] = [];
  for (const w of run.warnings) lines.push(`warning: ${w}`);
  for (const id of run.replaced) lines.push(`executor '${id}': not run (the local files stand in for its output)`);
  for (const [id, out] of Object.entries(result.executor_outputs)) {
    const counts = `${out.items_in} → ${out.items_out} item(s)` +
      (out.items_failed ? `, ${out.items_failed} failed` : "") +
      (out.items_skipped ? `, ${out.items_skipped} skipped by its condition` : "");
    lines.push(
      `executor '${id}': ${out.status} in ${out.duration_ms} ms, ${counts}${out.error ? `: ${out.error}` : ""}`,
    );
  }
  for (const item of result.content) {
    lines.push(`item ${item.id.canonical_id}:`);
    for (const log of item.executor_logs ?? []) {
      const ms = Date.parse(log.end_time ?? "") - Date.parse(log.start_time ?? "");
      const errors = (log.errors ?? []).length ? `: ${(log.errors ?? []).join("; ")}` : "";
      lines.push(`  ${log.executor_id}: ${log.status}${Number.isFinite(ms) ? ` (${ms} ms)` : ""}${errors}`);
    }
  }
  if (run.outputs) {
    for (const [id, items] of Object.entries(run.outputs)) {
      lines.push(`output of '${id}':`, JSON.stringify(items, null, 2));
    }
  }
  lines.push(
    `pipeline '${result.pipeline_name}': ${result.status} in ${result.duration_seconds.toFixed(2)} s` +
      (result.error ? `: ${result.error}` : ""),
  );
  lines.push("output items:", JSON.stringify(result.content, null, 2));
  return lines.join("\n");
}

/**
 * Takes `--input PATH...` out of argv: every `--input PATH` / `--input=PATH`, and the arguments that follow one up
 * to the next option, are input paths.
 */
export function takeInputs(argv: string[]): { inputs: string[]; rest: string[] } {
  const inputs: string[] = [];
  const rest: string[] = [];
  let collecting = false;
  for (const arg of argv) {
    if (arg === "--input") {
      collecting = true;
      continue;
    }
    if (arg.startsWith("--input=")) {
      if (arg.length === "--input=".length) throw new UsageError("--input needs a value");
      inputs.push(arg.slice("--input=".length));
      collecting = true;
      continue;
    }
    if (collecting && !(arg.startsWith("-") && arg !== "-")) {
      inputs.push(arg);
      continue;
    }
    collecting = false;
    rest.push(arg);
  }
  if (argv.includes("--input") && inputs.length === 0) throw new UsageError("--input needs a value");
  return { inputs, rest };
}

async function runCommand(argv: string[]): Promise<number> {
  const { inputs, rest } = takeInputs(argv);
  const { flags, positionals } = parseArgs(
    rest,
    {
      json: "boolean",
      yaml: "boolean",
      pipeline: "string",
      items: "string",
      execution: "string",
      "executor-outputs": "boolean",
      only: "string",
      "env-file": "string",
    },
    1,
  );
  const pipelineId = flags.pipeline as string | undefined;
  const itemsFrom = flags.items as string | undefined;
  const executionId = flags.execution as string | undefined;
  if (pipelineId !== undefined && positionals.length > 0) {
    throw new UsageError("give either a FILE or --pipeline ID, not both");
  }
  if (pipelineId === undefined && positionals.length === 0 && executionId === undefined) {
    throw new UsageError("pipeline run needs one pipeline: a FILE or --pipeline ID");
  }
  if ([inputs.length > 0, itemsFrom !== undefined, executionId !== undefined].filter(Boolean).length !== 1) {
    throw new UsageError("pipeline run needs one input: --input PATH..., --items FILE|- or --execution ID");
  }
  if (flags.json && flags.yaml) throw new UsageError("give --json or --yaml, not both");
  const envFile = flags["env-file"] as string | undefined;
  const { config } = await loadEffectiveConfig(envFile);
  // Executors' log lines go to stderr as on the worker (warnings and errors); the report goes to stdout.
  configureLogging({ level: "warn", write: (line) => void process.stderr.write(line + "\n") });
  const logger = rootLogger.child({ role: "cli" });
  const progress = new ProgressLine(
    { isTTY: Boolean(process.stderr.isTTY), write: (t) => void process.stderr.write(t) },
    "pipeline run",
  );
  let run: LocalRunResult;
  try {
    let items = itemsFrom !== undefined ? readItems(itemsFrom) : undefined;
    let storedPipeline: string | undefined;
    if (executionId !== undefined) {
      const admin = new RedriveAdmin(config);
      try {
        const replay = await replayInput(admin, executionId);
        items = replay.items;
        storedPipeline = replay.pipelineId;
        process.stderr.write(
          `execution ${executionId}: ${replay.items.length} item(s) from its ${replay.from}, pipeline ` +
            `${pipelineId ?? positionals[0] ?? replay.pipelineId}\n`,
        );
      } finally {
        await admin.close();
      }
    }
    const text = await pipelineText(
      config,
      positionals[0],
      pipelineId ?? (positionals[0] === undefined ? storedPipeline : undefined),
    );
    const def = parsePipelineYaml(text, { env: pipelineEnv(envFile) });
    const abort = new AbortController();
    const stop = () => abort.abort(new Error("interrupted"));
    process.once("SIGINT", stop);
    const ticker = setInterval(() => progress.update("running…"), 500);
    try {
      run = await runLocally(def, {
        registry: defaultRegistry(),
        deps: { config, logger },
        ...(items ? { items } : { files: inputs }),
        only: flags.only as string | undefined,
        executorOutputs: Boolean(flags["executor-outputs"]),
        signal: abort.signal,
        onProgress: (t) => progress.update(t),
      });
    } finally {
      clearInterval(ticker);
      process.off("SIGINT", stop);
      progress.done();
      await closeSharedBrowser(); // started by web_scraper render_js: true, if any
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) throw err;
    process.stderr.write(redactText(`pipeline run: ${errorText(err)}`) + "\n");
    return EXIT_FAILURE;
  }
  const out = flags.json
    ? JSON.stringify(report(run), null, 2)
    : flags.yaml
    ? yamlStringify(report(run))
    : textReport(run);
  process.stdout.write(redactText(out) + "\n");
  return run.result.status === "completed" ? EXIT_OK : EXIT_FAILURE;
}
