// `contentflow-worker pipeline check FILE...` / `pipeline check --pipeline ID`: parse and compile pipeline documents
// against the executor registry without running anything, and say what is wrong, per executor and setting.
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

/** Pipeline files larger than this are refused (a pipeline document is a few KiB; Cosmos caps items at 2 MB). */
const MAX_FILE_BYTES = 2 * 1024 * 1024;

const HELP = `Usage: contentflow-worker pipeline check FILE... [--json] [--env-file PATH]
       contentflow-worker pipeline check --pipeline ID [--json] [--env-file PATH]

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
error, 78 invalid configuration.`;

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
  summary: "Check pipeline YAML (files or a stored pipeline) against this build's executors without running it",
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === undefined) throw new UsageError("pipeline needs a subcommand: check");
    if (sub !== "check") throw new UsageError(`unknown pipeline subcommand '${sub}' (expected: check)`);
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
        env: process.env as Record<string, string | undefined>,
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
