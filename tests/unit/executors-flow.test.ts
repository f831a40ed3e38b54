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
import { checkPipelineYaml } from "../../src/pipeline/check.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { ExecutorDefinition, ExecutorRunContext } from "../../src/executors/types.ts";
import { perItemExecutor } from "../../src/executors/per-item.ts";
import { stringListSetting } from "../../src/executors/settings.ts";
import { OPERATIONS as OPS } from "../../src/executors/builtin/cross-document-field-aggregator.ts";
import { sleep } from "../helpers/wait.ts";

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

/** Items inside a pausing `mark` step at once, and the most seen. */
const flight = { active: 0, peak: 0 };

/** Test executors: `mark` appends its tag to data.trail per item (fails on fail_on, hangs on hang_on). */
function testRegistry() {
  const markSettings = v.object({
    tag: v.optional(v.string(), ""),
    fail_on: v.optional(stringListSetting("fail_on"), []),
    hang_on: v.optional(stringListSetting("hang_on"), []),
    pause: v.optional(v.boolean(), false),
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
        if (s.pause) {
          flight.active++;
          flight.peak = Math.max(flight.peak, flight.active);
          await sleep(20);
          flight.active--;
        }
        if (s.fail_on.includes(c.id.canonical_id)) throw new Error(`${id} refuses ${c.id.canonical_id}`);
        runCtx.addUsage?.({ marks: 1 });
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
    // Counts reported inside (e.g. AI tokens) are added to the subpipeline executor.
    assert.deepEqual(r.executor_outputs.sub.usage, { marks: 4 });
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
    executors: [{id: picky, type: mark, settings: {fail_on: [c2]}}]`,
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

  test("`pipeline check` sees the other pipelines of the document and reports a cycle on the executor", () => {
    const check = (yaml: string) => checkPipelineYaml(yaml, { registry: testRegistry(), deps, env: {} });
    const [ok] = check(doc(`    - {id: sub, type: subpipeline, settings: {pipeline: enrich}}`));
    assert.deepEqual([ok.pipeline, ok.valid, ok.problems], ["main", true, []]);
    const [cyclic] = check(doc(`    - {id: sub, type: subpipeline, settings: {pipeline: main}}`));
    assert.equal(cyclic.valid, false);
    assert.equal(cyclic.problems[0].executor, "sub");
    assert.match(cyclic.problems[0].message, /^sub-pipeline cycle: pipeline 'main' → pipeline 'main'/);
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
    const last = r.content[1].executor_logs!.at(-1)!;
    assert.deepEqual({ ...last.details, duration_seconds: typeof last.details?.duration_seconds }, {
      item_index: 1,
      steps_completed: 2,
      duration_seconds: "number",
    });
    assert.deepEqual(r.executor_outputs.each.usage, { marks: 6 });
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
          - {id: two, type: mark, settings: {tag: "2", fail_on: [c2]}}`),
      [item(1), item(2)],
    );
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.trail, "12");
    assert.equal(r.content[1].data?.trail, undefined);
    const failed = r.content[1].executor_logs!.at(-1)!;
    assert.equal(failed.executor_id, "each");
    assert.equal(failed.status, "failed");
    assert.deepEqual(failed.details, { item_index: 1, step_count: 2 });
    assert.match(
      failed.errors![0],
      /^item 1 \(c2\): steps failed: executor 'each.two' failed: item c2: each.two refuses c2$/,
    );
    assert.equal(r.executor_outputs.each.status, "completed");
  });

  test("a step with fail_pipeline_on_error false lets the item go on with the step's failed log entry", async () => {
    const r = await runYaml(
      pipeline(`        steps:
          - {id: one, type: mark, settings: {tag: "1", fail_on: [c1], fail_pipeline_on_error: false}}
          - {id: two, type: mark, settings: {tag: "2"}}`),
      [item(1)],
    );
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.trail, "2");
    assert.deepEqual(r.content[0].executor_logs?.map((l) => [l.executor_id, l.status]), [
      ["each.one", "failed"],
      ["each.two", "completed"],
      ["each", "completed"],
    ]);
  });

  test("continue_on_error false fails the executor; fail_pipeline_on_error (default false) passes the input on", async () => {
    const steps = `        continue_on_error: false
        steps:
          - {id: two, type: mark, settings: {fail_on: [c2]}}`;
    const lenient = await runYaml(pipeline(steps), [item(1), item(2)]);
    assert.equal(lenient.status, "completed", lenient.error);
    assert.equal(lenient.executor_outputs.each.status, "failed");
    assert.match(lenient.executor_outputs.each.error!, /^item 1 \(c2\): steps failed: .*each.two refuses c2/);
    assert.deepEqual(lenient.content.map((c) => c.data?.trail), [undefined, undefined]);
    const strict = await runYaml(pipeline(`        fail_pipeline_on_error: true\n${steps}`), [item(1), item(2)]);
    assert.equal(strict.status, "failed");
    assert.match(strict.error!, /executor 'each' failed: item 1 \(c2\)/);
    // continue_on_error is this executor's own setting: no "ignored" warning.
    const p = compileYaml(pipeline(steps));
    assert.ok(!p.warnings.some((w) => w.includes("continue_on_error")), p.warnings.join("; "));
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
    assert.match(
      r.content[1].executor_logs!.at(-1)!.errors![0],
      /item 1 \(c2\) took longer than 1 s through the steps/,
    );
  });

  test("max_concurrent bounds the items in flight (default 5)", async () => {
    for (const [extra, limit] of [["", 5], ["        max_concurrent: 2\n", 2]] as const) {
      flight.active = 0;
      flight.peak = 0;
      const r = await runYaml(pipeline(`${extra}        steps: [{id: m, type: mark, settings: {pause: true}}]`), [
        ...Array.from({ length: 12 }, (_, i) => item(i)),
      ]);
      assert.equal(r.status, "completed", r.error);
      assert.equal(flight.peak, limit);
    }
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

function make(type: string, settings: Record<string, unknown> = {}, id = "x") {
  return createExecutor({ id, type, settings }, testRegistry(), deps);
}

const quarter = (name: string, revenue: unknown, extra: Record<string, unknown> = {}) =>
  item(name, { metrics: { revenue }, text: `report ${name}` }, {
    filename: `${name}.pdf`,
    path: `r/${name}.pdf`,
    ...extra,
  });

describe("document_set_initializer", () => {
  test("stamps set id, name, role, order and total; filename_alpha order by default", async () => {
    const out = await make("document_set_initializer", { set_id: "fy24", set_name: "FY2024" }).process(
      [quarter("Q3", 3), quarter("Q1", 1), quarter("Q2", 2)],
      ctx,
    );
    assert.deepEqual(
      out.map((c) => c.summary_data),
      ["Q1", "Q2", "Q3"].map((q, i) => ({
        document_set_id: "fy24",
        document_set_name: "FY2024",
        document_set_role: q,
        document_set_order: i,
        document_set_total: 3,
      })),
    );
    assert.deepEqual(out[0].executor_logs?.map((l) => [l.executor_id, l.status, l.details]), [
      ["x", "completed", { set_id: "fy24", role: "Q1", order: 0, total: 3 }],
    ]);
  });

  test("generated set id (uuid) and name; input_order keeps the order", async () => {
    const out = await make("document_set_initializer", { ordering_strategy: "input_order" }).process(
      [quarter("b", 1), quarter("a", 1)],
      ctx,
    );
    const id = out[0].summary_data?.document_set_id as string;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(out[0].summary_data?.document_set_name, `document_set_${id.slice(0, 8)}`);
    assert.deepEqual(out.map((c) => c.summary_data?.document_set_role), ["b", "a"]);
  });

  test("filename_numeric, last_modified and explicit_mapping orders", async () => {
    const names = ["report10", "report9", "report1"].map((n) => quarter(n, 0));
    const numeric = await make("document_set_initializer", { ordering_strategy: "filename_numeric" }).process(
      names,
      ctx,
    );
    assert.deepEqual(numeric.map((c) => c.id.filename), ["report1.pdf", "report9.pdf", "report10.pdf"]);

    const dated = [
      quarter("a", 0, { metadata: { last_modified: "2024-03-01T00:00:00Z" } }),
      quarter("b", 0, { metadata: { last_modified: "2024-01-01T00:00:00Z" } }),
      quarter("c", 0),
    ];
    const byDate = await make("document_set_initializer", { ordering_strategy: "last_modified" }).process(dated, ctx);
    assert.deepEqual(byDate.map((c) => c.id.filename), ["c.pdf", "b.pdf", "a.pdf"]);

    const mapped = await make("document_set_initializer", {
      ordering_strategy: "explicit_mapping",
      role_mapping: '{"_q2": "Q2_2024", "_q1": "Q1_2024"}',
    }).process([quarter("x_q1", 0), quarter("other", 0), quarter("x_q2", 0)], ctx);
    assert.deepEqual(mapped.map((c) => c.summary_data?.document_set_role), ["Q2_2024", "Q1_2024", "other"]);
  });

  test("role_field from data. or id.metadata (also written metadata.<key>)", async () => {
    const withPeriod = [quarter("a", 0, { metadata: { period: "H1" } })];
    withPeriod[0].data!.period = { label: "first half" };
    const fromData = await make("document_set_initializer", { role_field: "data.period.label" }).process(
      structuredClone(withPeriod),
      ctx,
    );
    assert.equal(fromData[0].summary_data?.document_set_role, "first half");
    for (const field of ["period", "metadata.period"]) {
      const out = await make("document_set_initializer", { role_field: field }).process(
        structuredClone(withPeriod),
        ctx,
      );
      assert.equal(out[0].summary_data?.document_set_role, "H1", field);
    }
    const missing = await make("document_set_initializer", { role_field: "nope" }).process(
      structuredClone(withPeriod),
      ctx,
    );
    assert.equal(missing[0].summary_data?.document_set_role, "a");
  });

  test("validate_set_size and invalid settings", async () => {
    await assert.rejects(
      make("document_set_initializer", { validate_set_size: 3 }, "init").process([quarter("a", 1)], ctx),
      /executor 'init': expected 3 documents in the set but received 1/,
    );
    assert.throws(
      () => make("document_set_initializer", { ordering_strategy: "random" }),
      /invalid settings: ordering_strategy: ordering_strategy must be one of: filename_alpha, filename_numeric/,
    );
    assert.deepEqual(await make("document_set_initializer").process([], ctx), []);
  });
});

describe("document_set_collector", () => {
  const initialized = async (settings: Record<string, unknown> = { set_id: "fy24", set_name: "FY2024" }) =>
    await make("document_set_initializer", settings).process([quarter("Q2", 2), quarter("Q1", 1)], ctx);

  test("one consolidated item per set with the members in order", async () => {
    const members = await initialized();
    members[1].summary_data!.pages = 7;
    const out = await make("document_set_collector", {}, "collect").process([...members].reverse(), ctx);
    assert.equal(out.length, 1);
    const c = out[0];
    assert.deepEqual(
      { ...c.id, unique_id: typeof c.id.unique_id },
      {
        canonical_id: "document_set://fy24",
        unique_id: "string",
        source_name: "document_set_collector",
        source_type: "document_set",
        path: "fy24",
        filename: "FY2024",
      },
    );
    assert.match(c.id.unique_id, /^[0-9a-f]{40}$/);
    const set = c.data?.document_set as Record<string, unknown>;
    assert.deepEqual(Object.keys(set), ["set_id", "set_name", "total_documents", "collected_at", "documents"]);
    assert.equal(set.total_documents, 2);
    assert.deepEqual(set.documents, [
      {
        role: "Q1",
        order: 0,
        canonical_id: "cQ1",
        unique_id: "uQ1",
        filename: "Q1.pdf",
        path: "r/Q1.pdf",
        data: { metrics: { revenue: 1 }, text: "report Q1" },
        summary_data: {},
      },
      {
        role: "Q2",
        order: 1,
        canonical_id: "cQ2",
        unique_id: "uQ2",
        filename: "Q2.pdf",
        path: "r/Q2.pdf",
        data: { metrics: { revenue: 2 }, text: "report Q2" },
        summary_data: { pages: 7 },
      },
    ]);
    assert.deepEqual(c.summary_data, {
      document_set_id: "fy24",
      document_set_name: "FY2024",
      document_set_total: 2,
      collection_status: "complete",
    });
    assert.deepEqual(c.executor_logs?.map((l) => [l.executor_id, l.details]), [
      ["collect", { set_id: "fy24", documents_collected: 2, expected_total: 2 }],
    ]);
  });

  test("fields_to_collect (also dotted), summary_fields_to_collect, output_key, include_raw_content_list", async () => {
    const members = await initialized();
    members[1].summary_data!.pages = 3;
    const [c] = await make("document_set_collector", {
      fields_to_collect: "metrics.revenue, missing",
      summary_fields_to_collect: ["pages"],
      output_key: "reports",
      include_raw_content_list: true,
    }).process(members, ctx);
    const docs = (c.data?.reports as { documents: Array<Record<string, unknown>> }).documents;
    assert.deepEqual(docs.map((d) => [d.data, d.summary_data]), [
      [{ "metrics.revenue": 1 }, {}],
      [{ "metrics.revenue": 2 }, { pages: 3 }],
    ]);
    assert.deepEqual((c.data?.raw_content_list as Content[]).map((x) => x.id.canonical_id), ["cQ1", "cQ2"]);
  });

  test("several sets give several items; items without a set id are gathered in one ungrouped set", async () => {
    const a = await make("document_set_initializer", { set_id: "A" }).process([quarter("a1", 1)], ctx);
    const b = await make("document_set_initializer", { set_id: "B" }).process([quarter("b1", 1)], ctx);
    const out = await make("document_set_collector").process(
      [...a, quarter("loose1", 0), ...b, quarter("loose2", 0)],
      ctx,
    );
    assert.deepEqual(out.map((c) => c.summary_data?.document_set_id), ["A", out[1].summary_data?.document_set_id, "B"]);
    assert.match(String(out[1].summary_data?.document_set_id), /^ungrouped_[0-9a-f]{12}$/);
    assert.equal(out[1].summary_data?.document_set_name, "auto_collected_set");
    assert.equal((out[1].data?.document_set as { total_documents: number }).total_documents, 2);
  });

  test("an incomplete set fails unless require_complete_set is false (then status partial)", async () => {
    const [first] = await initialized();
    await assert.rejects(
      make("document_set_collector", {}, "collect").process([first], ctx),
      /executor 'collect': incomplete document set 'FY2024' \(fy24\): expected 2 documents but received 1/,
    );
    const [c] = await make("document_set_collector", { require_complete_set: false }).process([first], ctx);
    assert.equal(c.summary_data?.collection_status, "partial");
    await assert.rejects(
      make("document_set_collector", {}, "collect").process([], ctx),
      /executor 'collect': received no items/,
    );
  });
});

describe("cross_document_field_aggregator", () => {
  const collected = async (revenues: unknown[]) => {
    const members = await make("document_set_initializer", {
      set_id: "s",
      set_name: "S",
      ordering_strategy: "input_order",
    })
      .process(revenues.map((r, i) => quarter(`Q${i + 1}`, r)), ctx);
    return await make("document_set_collector").process(members, ctx);
  };

  test("every operation, in set order; output shape", async () => {
    const [c] = await make("cross_document_field_aggregator", {
      aggregations: [{ field_path: "data.metrics.revenue", operations: [...OPS], output_key: "rev" }],
    }, "agg").process(await collected([100, "110", null, 99, "n/a"]), ctx);
    const out = c.data?.field_aggregations as Record<string, unknown>;
    assert.deepEqual(Object.keys(out), [
      "type",
      "set_id",
      "set_name",
      "total_documents",
      "aggregations",
      "computed_at",
    ]);
    assert.deepEqual({ ...out, computed_at: typeof out.computed_at }, {
      type: "field_aggregations",
      set_id: "s",
      set_name: "S",
      total_documents: 5,
      computed_at: "string",
      aggregations: {
        rev: {
          field_path: "data.metrics.revenue",
          document_count: 5,
          values: [
            { role: "Q1", value: 100 },
            { role: "Q2", value: "110" },
            { role: "Q3", value: null },
            { role: "Q4", value: 99 },
            { role: "Q5", value: "n/a" },
          ],
          count: 3,
          sum: 309,
          avg: 103,
          min: 99,
          max: 110,
          delta: [{ from: "Q1", to: "Q2", delta: 10 }, { from: "Q2", to: "Q4", delta: -11 }],
          pct_change: [{ from: "Q1", to: "Q2", pct_change: 10 }, { from: "Q2", to: "Q4", pct_change: -10 }],
          trend: {
            direction: "mixed",
            confidence: 0.5,
            overall_change: -1,
            overall_pct_change: -1,
            periods_analyzed: 3,
          },
        },
      },
    });
    assert.deepEqual(c.executor_logs?.at(-1)?.executor_id, "agg");
  });

  test("trends, zero base, no numbers; default output key is the last path segment", async () => {
    const run = async (values: unknown[], operations: string[]) => {
      const [c] = await make("cross_document_field_aggregator", {
        aggregations: JSON.stringify([{ field_path: "data.metrics.revenue", operations }]),
      }).process(await collected(values), ctx);
      return (c.data?.field_aggregations as { aggregations: Record<string, Record<string, unknown>> }).aggregations
        .revenue;
    };
    assert.deepEqual((await run([1, 2, 3], ["trend"])).trend, {
      direction: "increasing",
      confidence: 1,
      overall_change: 2,
      overall_pct_change: 200,
      periods_analyzed: 3,
    });
    assert.equal(((await run([3, 1, 2, 0], ["trend"])).trend as { direction: string }).direction, "mostly_decreasing");
    assert.deepEqual((await run([5, 5], ["trend"])).trend, { direction: "stable", confidence: 1 });
    assert.deepEqual((await run([5], ["trend"])).trend, { direction: "insufficient_data", confidence: 0 });
    assert.deepEqual((await run([0, 5], ["pct_change"])).pct_change, [{ from: "Q1", to: "Q2", pct_change: null }]);
    assert.deepEqual(await run(["x", null], ["sum", "count", "trend"]), {
      field_path: "data.metrics.revenue",
      document_count: 2,
      count: 0,
      sum: null,
      trend: null,
    });
    // A long digit string that is not a number is refused in linear time (the ambiguous pattern took ~20 min on 1 MB).
    assert.equal((await run(["1".repeat(1_000_000) + "x", "7"], ["count"])).count, 1);
  });

  test("errors: no set data on the item, invalid operation, missing aggregations", async () => {
    await assert.rejects(
      make("cross_document_field_aggregator", { aggregations: [] }, "agg").process([item(1)], ctx),
      /executor 'agg', item c1: no document set data at data.document_set; run document_set_collector before/,
    );
    await assert.rejects(
      make("cross_document_field_aggregator", { aggregations: [] }, "agg").process(
        [item(1, { document_set: "x" })],
        ctx,
      ),
      /executor 'agg', item c1: data.document_set is not a document set/,
    );
    assert.throws(
      () => make("cross_document_field_aggregator", { aggregations: [{ field_path: "a", operations: ["median"] }] }),
      /invalid settings: aggregations.0.operations.0: operations must be some of: sum, avg/,
    );
    assert.throws(() => make("cross_document_field_aggregator", {}), /invalid settings: aggregations/);
  });

  test("initializer → collector → aggregator as a pipeline", async () => {
    const r = await runYaml(
      `pipeline:
  name: sets
  executors:
    - {id: init, type: document_set_initializer, settings: {set_id: fy, ordering_strategy: filename_numeric}}
    - {id: collect, type: document_set_collector}
    - id: agg
      type: cross_document_field_aggregator
      settings:
        aggregations: [{field_path: data.metrics.revenue, operations: [sum, delta]}]
  execution_sequence: [init, collect, agg]
`,
      [quarter("Q2", 20), quarter("Q1", 10)],
    );
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content.length, 1);
    const agg = (r.content[0].data?.field_aggregations as { aggregations: Record<string, Record<string, unknown>> })
      .aggregations.revenue;
    assert.equal(agg.sum, 30);
    assert.deepEqual(agg.delta, [{ from: "Q1", to: "Q2", delta: 10 }]);
    assert.deepEqual(r.content[0].executor_logs?.map((l) => l.executor_id), ["collect", "agg"]);
  });
});
