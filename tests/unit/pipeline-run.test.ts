// `pipeline run` (src/pipeline/local-run.ts and its CLI): local files as blob items, --only, --executor-outputs,
// --items, and the exit codes.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { rootLogger } from "../../src/log/logger.ts";
import { defaultRegistry } from "../../src/executors/registry.ts";
import { parsePipelineYaml } from "../../src/pipeline/definition.ts";
import { runLocally } from "../../src/pipeline/local-run.ts";
import { takeInputs } from "../../src/cli/pipeline-command.ts";
import { makePdf } from "../helpers/documents.ts";
import { quietLogs } from "../helpers/test-logging.ts";

declare const Deno: any;
quietLogs();
const MAIN = resolve(import.meta.dirname ?? ".", "../../src/main.ts");
const DIR = mkdtempSync(join(tmpdir(), "cfw-run-"));
const PDF = join(DIR, "report.pdf");
writeFileSync(PDF, await makePdf({ pages: 2, title: "Quarterly report" }));
const { config } = await loadConfig({ env: {}, dotenvPath: false });

const YAML = `
pipeline:
  name: pdf-local
  executors:
    - id: discover
      type: azure_blob_input_discovery
      settings:
        blob_storage_account: acct
        blob_container_name: docs
    - id: fetch
      type: azure_blob_content_retriever
    - id: pdf
      type: pdf_extractor
    - id: chunk
      type: recursive_text_chunker
      settings:
        input_field: pdf_output.text
        chunk_size: 200
        chunk_overlap: 0
  execution_sequence: [discover, fetch, pdf, chunk]
`;
const PIPELINE = join(DIR, "pipeline.yaml");
writeFileSync(PIPELINE, YAML);

function run(opts: { only?: string; executorOutputs?: boolean } = {}) {
  return runLocally(parsePipelineYaml(YAML), {
    registry: defaultRegistry(),
    deps: { config, logger: rootLogger },
    files: [PDF],
    signal: new AbortController().signal,
    ...opts,
  });
}

function cli(args: string[], input?: string) {
  const [command, pre] = typeof Deno !== "undefined"
    ? [Deno.execPath(), ["run", "-A", MAIN]]
    : [process.execPath, [MAIN]];
  const r = spawnSync(command, [...pre, ...args], {
    cwd: DIR,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1" },
    encoding: "utf8",
    input,
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("pipeline run: local files", () => {
  test("a local PDF becomes a blob item and runs through the extractor; discovery and retriever do not run", async () => {
    const { result, replaced } = await run();
    assert.equal(result.status, "completed", result.error);
    assert.deepEqual(replaced, ["discover", "fetch"]);
    assert.deepEqual(Object.keys(result.executor_outputs), ["pdf", "chunk"]);
    assert.ok(result.content.length >= 1);
    const item = result.content[0];
    assert.equal(item.id.filename, "report.pdf");
    assert.equal(item.id.source_type, "local_file");
    assert.equal(item.id.canonical_id, `file://${PDF}`);
    const meta = item.id.metadata as Record<string, unknown>;
    assert.equal(meta.content_type, "application/pdf");
    assert.equal(typeof meta.size, "number");
    assert.match(JSON.stringify(item.data), /Body text on page 1/);
    // The temp copy the extractor read is gone after the run.
    assert.equal(existsSync(String(item.data.temp_file_path)), false);
  });

  test("--only stops after one executor: its output is the output", async () => {
    const { result } = await run({ only: "pdf" });
    assert.equal(result.status, "completed", result.error);
    assert.deepEqual(Object.keys(result.executor_outputs), ["pdf"]);
    assert.equal(result.content.length, 1);
    assert.ok(result.content[0].data.pdf_output);
    await assert.rejects(run({ only: "fetch" }), /does not run locally/);
    await assert.rejects(run({ only: "nope" }), /not an executor this run would run/);
  });

  test("--executor-outputs keeps the items after every executor", async () => {
    const { result, outputs } = await run({ executorOutputs: true });
    assert.equal(result.status, "completed", result.error);
    assert.deepEqual(Object.keys(outputs!), ["pdf", "chunk"]);
    assert.equal(outputs!.pdf.length, 1);
    assert.ok(outputs!.pdf[0].data.pdf_output);
    assert.deepEqual(result.content, outputs!.chunk);
  });
});

describe("pipeline run: command line", () => {
  test("takeInputs collects every --input path up to the next option", () => {
    assert.deepEqual(takeInputs(["p.yaml", "--input", "a.pdf", "b.pdf", "--json"]), {
      inputs: ["a.pdf", "b.pdf"],
      rest: ["p.yaml", "--json"],
    });
    assert.deepEqual(takeInputs(["--input=a.pdf", "--only", "x"]).inputs, ["a.pdf"]);
    assert.throws(() => takeInputs(["p.yaml", "--input"]), /--input needs a value/);
  });

  test("runs a file on a PDF and prints JSON (log lines on stderr only); exit 0", () => {
    // An unknown setting makes the compiler log a warning: it must not land in the JSON on stdout.
    const withWarning = join(DIR, "warning.yaml");
    writeFileSync(
      withWarning,
      YAML.replace("type: pdf_extractor", "type: pdf_extractor\n      settings: {extract_tables: true}"),
    );
    const r = cli(["pipeline", "run", withWarning, "--input", PDF, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.status, "completed");
    assert.deepEqual(out.replaced_by_local_files, ["discover", "fetch"]);
    assert.equal(out.executors.pdf.status, "completed");
    assert.ok(out.items.length >= 1);
  });

  test("--items - runs given items; a failing pipeline exits 1 naming the executor", () => {
    const items = JSON.stringify([{ id: { canonical_id: "x1", unique_id: "u1" }, data: {} }]);
    const r = cli(["pipeline", "run", PIPELINE, "--items", "-", "--only", "fetch"], items);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /executor 'fetch': failed in \d+ ms, 1 → 0 item\(s\): .*unsupported source type/);
  });

  test("a missing input file and an unwritten input field are named", async () => {
    const r = cli(["pipeline", "run", PIPELINE, "--input", join(DIR, "missing.pdf")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.pdf: no such file/);
    const unread = parsePipelineYaml(YAML.replace("input_field: pdf_output.text", "input_field: markdown"));
    const { warnings } = await runLocally(unread, {
      registry: defaultRegistry(),
      deps: { config, logger: rootLogger },
      files: [PDF],
      only: "pdf",
      signal: new AbortController().signal,
    });
    assert.ok(
      warnings.some((w) => /'chunk' \(recursive_text_chunker\): reads data\.markdown/.test(w)),
      warnings.join("\n"),
    );
  });

  test("usage errors exit 2", () => {
    assert.equal(cli(["pipeline", "run", PIPELINE]).code, 2);
    assert.equal(cli(["pipeline", "run", "--input", PDF]).code, 2);
    assert.equal(cli(["pipeline", "run", PIPELINE, "--input", PDF, "--json", "--yaml"]).code, 2);
  });
});
