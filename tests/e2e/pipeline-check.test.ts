// `contentflow-worker pipeline check` through the compiled binary: the web UI's templates and the library's samples
// (tests/fixtures/contentflow-pipelines, made by scripts/extract-contentflow-pipelines.ts) each give exactly the
// result in expectations.json; exit codes, --json and --pipeline ID (read from the Cosmos emulator).
//
// When an executor is added, the expected problems change: rerun with UPDATE_EXPECTATIONS=1 to rewrite
// expectations.json from the binary's output, and review the diff.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { ensureBinary, ROOT } from "../helpers/binary.ts";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import { openCosmosStore } from "../../src/store/cosmos.ts";
import { uniqueName } from "../helpers/wait.ts";
import { completeTemplate, readWebTemplate, webTemplateNames } from "../helpers/web-templates.ts";

const FIXTURES = join(ROOT, "tests", "fixtures", "contentflow-pipelines");
const EXPECTATIONS = join(FIXTURES, "expectations.json");

/**
 * A worker's environment as the reference deployment gives it: the blob account from contentflow.common.*, and the
 * service variables the samples' `${VAR}` references name (the Python library resolves them from its environment
 * too). Nothing is called: the values only need to be well-formed.
 */
const WORKER_ENV = {
  BLOB_STORAGE_ACCOUNT_NAME: "contentflowcheck",
  AZURE_STORAGE_ACCOUNT_NAME: "contentflowcheck",
  AZURE_OPENAI_ENDPOINT: "https://check-openai.openai.azure.com/",
  AZURE_OPENAI_EMBEDDINGS_ENDPOINT: "https://check-openai.openai.azure.com/",
  AZURE_OPENAI_DEPLOYMENT_NAME: "gpt-4.1-mini",
  AZURE_OPENAI_EMBEDDINGS_DEPLOYMENT: "text-embedding-3-large",
  AZURE_DOCUMENT_INTELLIGENCE_ENDPOINT: "https://check-di.cognitiveservices.azure.com/",
  AZURE_CONTENT_UNDERSTANDING_ENDPOINT: "https://check-cu.services.ai.azure.com/",
  AZURE_CONTENT_UNDERSTANDING_API_KEY: "check-key",
  AZURE_AI_SEARCH_SERVICE_ACCOUNT_NAME: "check-search",
  AZURE_AI_SEARCH_INDEX: "check-index",
  // A key is resolved from the environment only when listed exactly.
  PIPELINE_ENV_ALLOWED_VARIABLES: "*,AZURE_CONTENT_UNDERSTANDING_API_KEY",
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBinary(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(ensureBinary(), args, {
    cwd: mkdtempSync(join(tmpdir(), "cfw-check-")),
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((r) => child.once("close", (code) => r({ code, stdout, stderr })));
}

function fixtureFiles(): string[] {
  return ["web-templates", "library-samples"].flatMap((dir) =>
    readdirSync(join(FIXTURES, dir)).filter((f) => f.endsWith(".yaml")).sort().map((f) => join(FIXTURES, dir, f))
  );
}

interface CheckJson {
  valid: boolean;
  results: Array<{
    source: string;
    pipeline?: string;
    valid: boolean;
    problems: Array<{ executor?: string; setting?: string; message: string }>;
  }>;
}

/** Per fixture (path relative to the fixtures folder): "valid", or its problems as "[pipeline] executor 'x': …". */
function summarize(out: CheckJson): Record<string, "valid" | string[]> {
  const perSource = new Map<string, CheckJson["results"]>();
  for (const r of out.results) perSource.set(r.source, [...(perSource.get(r.source) ?? []), r]);
  const summary: Record<string, "valid" | string[]> = {};
  for (const [source, results] of perSource) {
    const key = relative(FIXTURES, source);
    const several = results.length > 1;
    const problems = results.flatMap((r) =>
      r.problems.map((p) =>
        `${several ? `[${r.pipeline}] ` : ""}${
          p.executor !== undefined ? `executor '${p.executor}': ` : ""
        }${p.message}`
      )
    );
    summary[key] = problems.length === 0 ? "valid" : problems;
  }
  return summary;
}

/**
 * The library samples that ContentFlow's Python library refuses too (contentflow-lib/contentflow/pipeline/
 * pipeline_factory.py and the worker's processing_worker.py, Azure/contentflow 3b61ffc), and why. Every other library
 * sample must compile on ours.
 */
const PYTHON_REFUSES: Record<string, string> = {
  "14-gpt-rag-ingestion__pipeline-config.yaml":
    "ai_search_index_output reads content_to_index_mappings with required=True, and the sample has none",
  "17-knowledge-graph__knowledge_graph_build.yaml": "knowledge_graph_* types are not in the executor catalog",
  "17-knowledge-graph__knowledge_graph_enrichment.yaml": "knowledge_graph_* types are not in the executor catalog",
  "17-knowledge-graph__knowledge_graph_queries.yaml": "knowledge_graph_* types are not in the executor catalog",
  "19-sub-pipelines__nested_subpipelines.yaml": "type 'sub-pipeline' is not in the catalog (the type is 'subpipeline')",
  "21-document-set-comparison__pipeline_config.yaml":
    "type 'sub-pipeline' is not in the catalog (the type is 'subpipeline')",
  "27-subpipeline-processing__subpipeline_config.yaml":
    "types document_intelligence_extractor, subworkflow, batch_aggregator, custom_ai_prompt are not in the catalog",
  "28-advanced-batch__batch_processor_config.yaml":
    "types batch_processor, filter_processor, parallel_document_processor are not in the catalog",
  "32-parallel-processing__parallel_config.yaml":
    "types document_intelligence_extractor, custom_ai_prompt, batch_aggregator are not in the catalog",
  "44-conditional-routing__conditional_config.yaml":
    "an edge `to:` of {target, condition} entries: `to_id not in executor_factories` raises TypeError (a list)",
  ...Object.fromEntries(
    [
      "article_processing_subworkflow",
      "batch_subworkflow_example",
      "conditional_routing",
      "fan_out_fan_in",
      "split_merge",
    ]
      .map((name) => [`${name}.yaml`, "an old format (`workflows:`, `subworkflows:`): no `pipeline:` or `pipelines:`"]),
  ),
};

/**
 * Library samples the Python worker refuses that compile here, and why. The web scraping samples are a bare
 * `executors:` list (Python: no `name`, KeyError; no execution_sequence); ours reads a bare definition, names it
 * 'pipeline' and needs no order for one executor (definition.ts). They were refused here only for render_js: true
 * until web_scraper had a browser mode.
 */
const OURS_ACCEPTS = [
  "crawling_example",
  "multi_pattern_example",
  "news_aggregator_example",
  "screenshot_element",
  "simple_scrape",
]
  .map((name) => `18-web-scraping__${name}.yaml`);

describe("pipeline check: ContentFlow's own pipelines through the compiled binary", () => {
  test("the 12 web UI templates and 47 library samples are all there", () => {
    const files = fixtureFiles().map((f) => relative(FIXTURES, f));
    assert.equal(files.filter((f) => f.startsWith("web-templates/")).length, 12);
    assert.equal(files.filter((f) => f.startsWith("library-samples/")).length, 47);
  });

  test("every fixture gives exactly the expected result", async () => {
    const files = fixtureFiles();
    const r = await runBinary(["pipeline", "check", "--json", ...files], WORKER_ENV);
    assert.equal(r.stderr, "");
    const out = JSON.parse(r.stdout) as CheckJson;
    const actual = summarize(out);
    assert.equal(r.code, out.valid ? 0 : 1, "exit code follows validity");
    if (process.env.UPDATE_EXPECTATIONS === "1") {
      writeFileSync(EXPECTATIONS, JSON.stringify(actual, null, 2) + "\n");
    }
    const expected = JSON.parse(readFileSync(EXPECTATIONS, "utf8"));
    for (const key of Object.keys({ ...expected, ...actual })) {
      assert.deepEqual(actual[key], expected[key], `${key} (UPDATE_EXPECTATIONS=1 rewrites expectations.json)`);
    }
  });

  test("every library sample the Python library accepts compiles; the ones it refuses are refused here too", async () => {
    const files = fixtureFiles().filter((f) => f.includes("/library-samples/"));
    const r = await runBinary(["pipeline", "check", "--json", ...files], WORKER_ENV);
    const summary = summarize(JSON.parse(r.stdout) as CheckJson);
    const invalid = Object.keys(summary).filter((k) => summary[k] !== "valid").map((k) => k.replace(/^.*\//, ""));
    assert.deepEqual(invalid.sort(), Object.keys(PYTHON_REFUSES).sort());
    const valid = Object.keys(summary).filter((k) => summary[k] === "valid").map((k) => k.replace(/^.*\//, ""));
    for (const name of OURS_ACCEPTS) assert.ok(valid.includes(name), `${name} compiles`);
    assert.equal(valid.length, 27 + OURS_ACCEPTS.length);
  });

  test("the 12 web UI templates, completed as the UI requires, are all valid in the worker's environment", async () => {
    // The raw templates are refused above for what the web UI makes its user fill in (catalog-required settings,
    // "<foundry-resource>" endpoints); completeTemplate fills them with ${VAR} references to WORKER_ENV.
    const dir = mkdtempSync(join(tmpdir(), "cfw-check-templates-"));
    const files = webTemplateNames().map((name) => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, completeTemplate(readWebTemplate(name)));
      return file;
    });
    assert.equal(files.length, 12);
    const r = await runBinary(["pipeline", "check", "--json", ...files], WORKER_ENV);
    const out = JSON.parse(r.stdout) as CheckJson;
    const problems = out.results.flatMap((x) => x.problems.map((p) => `${x.source}: ${p.executor} ${p.message}`));
    assert.deepEqual(problems, []);
    assert.equal(r.code, 0);
    // Without the worker's environment the references stay unresolved, and the check says so.
    const bare = await runBinary(["pipeline", "check", files[0]]);
    assert.equal(bare.code, 1);
  });

  test("text output: one line per problem naming the executor, 'ok' for a valid file; exit 0 when all valid", async () => {
    const valid = join(FIXTURES, "library-samples", "10-table-row-splitter__csv_to_rows_config.yaml");
    const ok = await runBinary(["pipeline", "check", valid], WORKER_ENV);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /10-table-row-splitter__csv_to_rows_config\.yaml \[csv_to_rows_basic\]: ok/);
    const bad = join(FIXTURES, "library-samples", "17-knowledge-graph__knowledge_graph_build.yaml");
    const r = await runBinary(["pipeline", "check", valid, bad], WORKER_ENV);
    assert.equal(r.code, 1);
    assert.ok(
      r.stdout.split("\n").includes(
        `${bad}: the pipeline has 2 executors but neither \`edges\` nor \`execution_sequence\` to order them`,
      ),
      r.stdout,
    );
  });

  test("usage errors exit 2; --help describes the command", async () => {
    for (const args of [["pipeline"], ["pipeline", "check"], ["pipeline", "frob"], ["pipeline", "check", "--bogus"]]) {
      const r = await runBinary(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
    const both = await runBinary(["pipeline", "check", "a.yaml", "--pipeline", "p1"]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /either files or --pipeline ID/);
    const help = await runBinary(["pipeline", "check", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: contentflow-worker pipeline check FILE\.\.\./);
    const main = await runBinary(["--help"]);
    assert.match(main.stdout, /\bpipeline\b/);
  });

  test("conditions compile in the binary: regex_match on RE2 (bundled re2js), mixed and/or warned about", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cfw-check-cond-"));
    const file = join(dir, "cond.yaml");
    writeFileSync(
      file,
      `pipeline:
  name: cond
  executors:
    - id: pt
      type: pass_through
      settings: {condition: "id.path regex_match '^(a+)+$' or data.x == 1 and data.y == 2"}
`,
    );
    const ok = await runBinary(["pipeline", "check", file]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /cond\.yaml: warning: executor 'pt' \(pass_through\): condition .* mixes 'and' and 'or'/);
    // A backreference (YAML "\\1" is the two characters \1).
    writeFileSync(file, readFileSync(file, "utf8").replace("^(a+)+$", "(a)\\\\1"));
    const bad = await runBinary(["pipeline", "check", file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /executor 'pt': invalid condition: invalid regular expression .*RE2 syntax/);
  });

  test("a missing file is a problem (exit 1), not a crash", async () => {
    const r = await runBinary(["pipeline", "check", "/nonexistent/p.yaml"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim(), "/nonexistent/p.yaml: no such file");
  });
});

describe("pipeline check --pipeline ID (Cosmos emulator)", () => {
  let emulators: Emulators;
  before(async () => {
    ensureBinary();
    emulators = await startEmulators({ queue: false, blob: false });
  });
  after(async () => await emulators?.stop());

  test("reads the document and checks its yaml; an unknown id is a problem", async () => {
    const env = { ...emulators.env, COSMOS_DB_NAME: uniqueName("check") };
    const { config } = await loadConfig({ env, dotenvPath: false });
    const store = await openCosmosStore(config);
    const yaml = readFileSync(join(FIXTURES, "web-templates", "pdf-extraction.yaml"), "utf8");
    await store.pipelines.items.create({
      id: "pdf_document_extraction_1a2b3c4d",
      name: "PDF Document Extraction",
      yaml,
    });
    await store.pipelines.items.create({
      id: "chunk_only",
      name: "chunk",
      yaml: "pipeline:\n  name: chunk\n  executors:\n    - {id: c, type: recursive_text_chunker}\n",
    });
    store.close();

    const bad = await runBinary(["pipeline", "check", "--pipeline", "pdf_document_extraction_1a2b3c4d"], env);
    assert.equal(bad.code, 1, bad.stderr);
    assert.ok(
      bad.stdout.includes(
        "pipeline pdf_document_extraction_1a2b3c4d: executor 'doc-intel-1': invalid settings: doc_intelligence_endpoint: is required",
      ),
      bad.stdout,
    );
    const good = await runBinary(["pipeline", "check", "--pipeline", "chunk_only", "--json"], env);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.equal(JSON.parse(good.stdout).results[0].source, "pipeline chunk_only");
    const missing = await runBinary(["pipeline", "check", "--pipeline", "nope"], env);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout.trim(), "pipeline nope: no such pipeline document");
  });
});
