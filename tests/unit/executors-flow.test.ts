// Flow and document-set executors: subpipeline, for_each_content, document_set_initializer, document_set_collector,
// cross_document_field_aggregator (cross_document_comparison, cosmos_db_lookup and web_scraper have files of their
// own because they need a fake service, the Cosmos emulator or an HTTP server).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import {
  compilePipeline,
  createExecutor,
  defaultRegistry,
  parsePipelineYaml,
  PipelineError,
  runPipeline,
} from "../../src/pipeline/index.ts";
import { MAX_NESTING_DEPTH } from "../../src/pipeline/compile.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { ExecutorDefinition, ExecutorRunContext } from "../../src/executors/types.ts";
import { perItemExecutor } from "../../src/executors/per-item.ts";
import { stringListSetting } from "../../src/executors/settings.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const logger = new Logger();
const deps = { config, logger };
const ctx: ExecutorRunContext = { executorId: "x", pipelineName: "p", signal: new AbortController().signal, logger };

const item = (n: number | string, data: Record<string, unknown> = {}, id: Record<string, unknown> = {}): Content => ({
  id: { canonical_id: `c${n}`, unique_id: `u${n}`, filename: `f${n}.txt`, ...id },
  data,
  summary_data: {},
  executor_logs: [],
});

/** Test executors: `mark` appends its tag to data.trail per item (fails on fail_on, hangs on hang_on). */
function testRegistry() {
  const markSettings = v.object({
    tag: v.optional(v.string(), ""),
    fail_on: v.optional(stringListSetting("fail_on"), []),
    hang_on: v.optional(stringListSetting("hang_on"), []),
  });
  const mark: ExecutorDefinition<typeof markSettings> = {
    type: "mark",
    category: "transform",
    description: "test: appends its tag to data.trail",
    settings: markSettings,
    create: (id, s) =>
      perItemExecutor(id, "mark", async (c, runCtx) => {
        if (s.hang_on.includes(c.id.canonical_id)) {
          await new Promise((_, reject) => runCtx.signal.addEventListener("abort", () => reject(runCtx.signal.reason)));
        }
        if (s.fail_on.includes(c.id.canonical_id)) throw new Error(`${id} refuses ${c.id.canonical_id}`);
        return { ...c, data: { ...c.data, trail: `${(c.data?.trail as string) ?? ""}${s.tag || id}` } };
      }),
  };
  // split: one item becomes two (a, b).
  const split: ExecutorDefinition<ReturnType<typeof v.object>> = {
    type: "split",
    category: "transform",
    description: "test: one item becomes two",
    settings: v.object({}),
    create: (id) =>
      perItemExecutor(id, "split", async (c) => [
        { ...c, id: { ...c.id, canonical_id: `${c.id.canonical_id}a` } },
        { ...c, id: { ...c.id, canonical_id: `${c.id.canonical_id}b` } },
      ]),
  };
  return defaultRegistry().register(mark as unknown as ExecutorDefinition).register(
    split as unknown as ExecutorDefinition,
  );
}

function compileYaml(yaml: string, env: Record<string, string> = {}) {
  return compilePipeline(parsePipelineYaml(yaml, { env }), { registry: testRegistry(), deps });
}

async function runYaml(yaml: string, input: Content[], signal = new AbortController().signal) {
  return await runPipeline(compileYaml(yaml), input, { signal, logger });
}

function refuses(yaml: string, message: RegExp) {
  assert.throws(() => compileYaml(yaml), (err: unknown) => {
    assert.ok(err instanceof PipelineError, String(err));
    assert.match(err.message, message);
    return true;
  });
}

describe("subpipeline", () => {
  const doc = (mainExecutors: string, extra = "") =>
    `pipeline:
  name: main
  executors:
${mainExecutors}
pipelines:
  - name: enrich
    executors:
      - {id: e1, type: mark, settings: {tag: "E1"}}
      - {id: e2, type: mark, settings: {tag: "E2"}}
    execution_sequence: [e1, e2]
${extra}`;

  test("runs the named pipeline of the same document on the items and passes its output on", async () => {
    const r = await runYaml(
      doc(`    - {id: before, type: mark, settings: {tag: "B"}}
    - {id: sub, type: subpipeline, settings: {pipeline: enrich}}
    - {id: after, type: mark, settings: {tag: "A"}}
  execution_sequence: [before, sub, after]`),
      [item(1), item(2)],
    );
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual(r.content.map((c) => [c.id.canonical_id, c.data?.trail]), [["c1", "BE1E2A"], ["c2", "BE1E2A"]]);
    // The inner executors' log entries are on the items, between the outer ones.
    assert.deepEqual(r.content[0].executor_logs?.map((l) => l.executor_id), ["before", "e1", "e2", "after"]);
    assert.equal(r.executor_outputs.sub.items_out, 2);
  });

  test("the sub-pipeline may change the number of items", async () => {
    const r = await runYaml(
      doc(
        `    - {id: sub, type: subpipeline, settings: {pipeline: splitter}}`,
        `  - name: splitter
    executors: [{id: s, type: split}]`,
      ),
      [item(1)],
    );
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual(r.content.map((c) => c.id.canonical_id), ["c1a", "c1b"]);
  });

  test("an inner failure fails the subpipeline executor with the inner executor named", async () => {
    const r = await runYaml(
      doc(
        `    - {id: sub, type: subpipeline, settings: {pipeline: strict}}`,
        `  - name: strict
    executors: [{id: picky, type: mark, settings: {fail_on: [c2], continue_on_error: false}}]`,
      ),
      [item(1), item(2)],
    );
    assert.equal(r.status, "failed");
    assert.match(r.error!, /executor 'sub' failed: sub-pipeline 'strict' failed: executor 'picky' failed: .*c2/);
  });

  test("nested sub-pipelines work; settings get ${VAR} from the same environment", async () => {
    const r = await runPipeline(
      compileYaml(
        `pipelines:
  - name: top
    executors: [{id: s1, type: subpipeline, settings: {pipeline: middle}}]
  - name: middle
    executors: [{id: s2, type: subpipeline, settings: {pipeline: leaf}}]
  - name: leaf
    executors: [{id: m, type: mark, settings: {tag: "\${TAG}"}}]
`,
        { TAG: "leafy" },
      ),
      [item(1)],
      { signal: new AbortController().signal, logger },
    );
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.trail, "leafy");
  });

  test("refused at compile time: unknown name, self reference, indirect cycle, too deep", () => {
    refuses(
      doc(`    - {id: sub, type: subpipeline, settings: {pipeline: nope}}`),
      /executor 'sub' \(subpipeline\): no pipeline named 'nope' in the same YAML document \(it has: enrich, main\)/,
    );
    refuses(
      doc(`    - {id: sub, type: subpipeline, settings: {pipeline: main}}`),
      /executor 'sub' \(subpipeline\): sub-pipeline cycle: pipeline 'main' → pipeline 'main'/,
    );
    refuses(
      `pipelines:
  - name: a
    executors: [{id: to_b, type: subpipeline, settings: {pipeline: b}}]
  - name: b
    executors: [{id: to_a, type: subpipeline, settings: {pipeline: a}}]
`,
      /sub-pipeline cycle: pipeline 'a' → pipeline 'b' → pipeline 'a'/,
    );
    const levels = Array.from(
      { length: MAX_NESTING_DEPTH + 2 },
      (_, i) =>
        i === MAX_NESTING_DEPTH + 1
          ? `  - name: p${i}\n    executors: [{id: m, type: mark}]\n`
          : `  - name: p${i}\n    executors: [{id: s${i}, type: subpipeline, settings: {pipeline: p${i + 1}}}]\n`,
    );
    refuses(`pipelines:\n${levels.join("")}`, new RegExp(`pipelines nest more than ${MAX_NESTING_DEPTH} levels deep`));
    // One level less is fine.
    const ok = Array.from(
      { length: MAX_NESTING_DEPTH + 1 },
      (_, i) =>
        i === MAX_NESTING_DEPTH
          ? `  - name: p${i}\n    executors: [{id: m, type: mark}]\n`
          : `  - name: p${i}\n    executors: [{id: s${i}, type: subpipeline, settings: {pipeline: p${i + 1}}}]\n`,
    );
    compileYaml(`pipelines:\n${ok.join("")}`);
  });

  test("refused at compile time: invalid executor inside the sub-pipeline, missing setting", () => {
    refuses(
      doc(
        `    - {id: sub, type: subpipeline, settings: {pipeline: bad}}`,
        `  - name: bad\n    executors: [{id: x, type: no_such_type}]\n`,
      ),
      /executor 'sub' \(subpipeline\): in sub-pipeline 'bad': executor 'x': unknown type 'no_such_type'/,
    );
    refuses(doc(`    - {id: sub, type: subpipeline}`), /executor 'sub' \(subpipeline\): invalid settings: pipeline/);
  });

  test("the task's cancellation reaches executors inside the sub-pipeline", async () => {
    const abort = new AbortController();
    const running = runYaml(
      doc(
        `    - {id: sub, type: subpipeline, settings: {pipeline: slow}}`,
        `  - name: slow\n    executors: [{id: h, type: mark, settings: {hang_on: [c1]}}]\n`,
      ),
      [item(1)],
      abort.signal,
    );
    setTimeout(() => abort.abort(new Error("shutting down")), 20);
    const r = await running;
    assert.equal(r.status, "cancelled");
    assert.match(r.error!, /shutting down/);
  });

  test("created on its own (no pipeline document) it says why it cannot work", () => {
    assert.throws(
      () => createExecutor({ id: "s", type: "subpipeline", settings: { pipeline: "x" } }, testRegistry(), deps),
      /executor 's' \(subpipeline\): sub-pipeline 'x' can only be used inside a pipeline document/,
    );
  });
});

describe("for_each_content", () => {
  const pipeline = (settings: string) =>
    `pipeline:
  name: p
  executors:
    - id: each
      type: for_each_content
      settings:
${settings}
`;

  test("each item goes through the steps; order kept; step log entries named <id>.<step>", async () => {
    const r = await runYaml(
      pipeline(`        max_concurrent: 2
        steps:
          - {id: one, type: mark, settings: {tag: "1"}}
          - {id: two, type: mark, settings: {tag: "2"}}`),
      [item(1), item(2), item(3)],
    );
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual(r.content.map((c) => [c.id.canonical_id, c.data?.trail]), [
      ["c1", "12"],
      ["c2", "12"],
      ["c3", "12"],
    ]);
    assert.deepEqual(r.content[0].executor_logs?.map((l) => [l.executor_id, l.status]), [
      ["each.one", "completed"],
      ["each.two", "completed"],
      ["each", "completed"],
    ]);
  });

  test("steps may be the catalog's JSON string; a step may split an item", async () => {
    const steps = JSON.stringify([{ id: "s", type: "split" }, { id: "m", type: "mark", settings: { tag: "m" } }]);
    const r = await runYaml(pipeline(`        steps: '${steps}'`), [item(1), item(2)]);
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual(r.content.map((c) => [c.id.canonical_id, c.data?.trail]), [
      ["c1a", "m"],
      ["c1b", "m"],
      ["c2a", "m"],
      ["c2b", "m"],
    ]);
  });

  test("a failed item passes through unchanged with a failed log entry naming the step and the item", async () => {
    const r = await runYaml(
      pipeline(`        steps:
          - {id: one, type: mark, settings: {tag: "1"}}
          - {id: two, type: mark, settings: {tag: "2", fail_on: [c2], continue_on_error: false}}`),
      [item(1), item(2)],
    );
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.trail, "12");
    assert.equal(r.content[1].data?.trail, undefined);
    const failed = r.content[1].executor_logs!.at(-1)!;
    assert.equal(failed.executor_id, "each");
    assert.equal(failed.status, "failed");
    assert.match(failed.errors![0], /executor 'each.two' failed: .*each.two refuses c2/);
    assert.equal(r.executor_outputs.each.items_failed, 1);
    assert.match(r.executor_outputs.each.error!, /^c2: /);
  });

  test("continue_on_error false fails the executor; fail_pipeline_on_error (default false) passes the input on", async () => {
    const steps = `        continue_on_error: false
        steps:
          - {id: two, type: mark, settings: {fail_on: [c2], continue_on_error: false}}`;
    const lenient = await runYaml(pipeline(steps), [item(1), item(2)]);
    assert.equal(lenient.status, "completed", lenient.error);
    assert.equal(lenient.executor_outputs.each.status, "failed");
    assert.match(lenient.executor_outputs.each.error!, /item c2: .*each.two refuses c2/);
    assert.deepEqual(lenient.content.map((c) => c.data?.trail), [undefined, undefined]);
    const strict = await runYaml(pipeline(`        fail_pipeline_on_error: true\n${steps}`), [item(1), item(2)]);
    assert.equal(strict.status, "failed");
    assert.match(strict.error!, /executor 'each' failed: item c2/);
  });

  test("timeout_per_item_secs fails an item that takes too long, naming it", async () => {
    const r = await runYaml(
      pipeline(`        timeout_per_item_secs: 1
        steps:
          - {id: slow, type: mark, settings: {hang_on: [c2]}}`),
      [item(1), item(2)],
    );
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.trail, "each.slow");
    assert.match(r.content[1].executor_logs!.at(-1)!.errors![0], /item c2 took longer than 1 s through the steps/);
  });

  test("steps are compiled with the pipeline: bad type, bad settings, bad steps are refused", () => {
    refuses(
      pipeline(`        steps: [{id: a, type: nope}]`),
      /executor 'each' \(for_each_content\): in steps: executor 'each.a': unknown type 'nope'/,
    );
    refuses(
      pipeline(`        steps: [{id: a, type: field_mapper}]`),
      /executor 'each' \(for_each_content\): in steps: executor 'each.a' \(field_mapper\): invalid settings/,
    );
    refuses(pipeline(`        steps: []`), /steps must name at least one executor step/);
    refuses(pipeline(`        steps: [{id: a}]`), /for_each_content\): invalid settings: steps/);
    refuses(pipeline(`        steps: [{id: a, type: mark}, {id: a, type: mark}]`), /step ids must be unique/);
    refuses(pipeline(`        max_concurrent: 0\n        steps: [{id: a, type: mark}]`), /max_concurrent/);
  });

  test("a step may be a sub-pipeline; a for_each step naming its own pipeline is a cycle", async () => {
    const yaml = `pipeline:
  name: main
  executors:
    - id: each
      type: for_each_content
      settings:
        steps: [{id: sub, type: subpipeline, settings: {pipeline: leaf}}]
pipelines:
  - name: leaf
    executors: [{id: m, type: mark, settings: {tag: L}}]
`;
    const r = await runYaml(yaml, [item(1)]);
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.trail, "L");
    refuses(
      yaml.replace("pipeline: leaf", "pipeline: main"),
      /sub-pipeline cycle: pipeline 'main' → executor 'each' steps → pipeline 'main'/,
    );
  });

  test("${VAR} in step settings is applied once (an escaped $${X} stays literal)", async () => {
    const r = await runPipeline(
      compileYaml(pipeline(`        steps: [{id: m, type: mark, settings: {tag: "\${X}-$\${X}"}}]`), { X: "x" }),
      [item(1)],
      { signal: new AbortController().signal, logger },
    );
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.trail, "x-${X}");
  });

  test("process() on its own also runs every item (used by callers holding a batch)", async () => {
    const p = compileYaml(pipeline(`        steps: [{id: m, type: mark, settings: {tag: Z}}]`));
    const out = await p.nodes.get("each")!.instance.process([item(1), item(2)], ctx);
    assert.deepEqual(out.map((c) => c.data?.trail), ["Z", "Z"]);
  });
});
