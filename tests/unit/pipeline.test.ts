import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compilePipeline, defaultRegistry, parsePipelineYaml, PipelineError, runPipeline } from "../../src/pipeline/index.ts";
import { compileCondition } from "../../src/pipeline/condition.ts";
import { loadConfig } from "../../src/config/load.ts";
import { Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/pipeline/content.ts";
import type { ExecutorDefinition } from "../../src/executors/types.ts";
import * as v from "valibot";

const { config } = await loadConfig({ env: {}, dotenvPath: false });
const deps = { config, logger: new Logger() };
const logger = new Logger();
const item = (n: number, data: Record<string, unknown> = {}): Content => ({
  id: { canonical_id: `c${n}`, unique_id: `u${n}`, filename: `f${n}.txt` },
  data,
  summary_data: {},
  executor_logs: [],
});

function registryWithTag() {
  const settings = v.looseObject({ tag: v.string(), fail: v.optional(v.boolean(), false) });
  const tag: ExecutorDefinition<typeof settings> = {
    type: "tag",
    category: "transform",
    description: "test: appends its tag to data.path",
    settings,
    create: (id, s) => ({
      id,
      type: "tag",
      async process(input) {
        if (s.fail) throw new Error("boom");
        return input.map((c) => ({ ...c, data: { ...c.data, path: `${(c.data?.path as string) ?? ""}${s.tag}` } }));
      },
    }),
  };
  return defaultRegistry().register(tag as unknown as ExecutorDefinition);
}

async function run(yaml: string, input: Content[], exclude?: string) {
  const p = compilePipeline(parsePipelineYaml(yaml, { env: { X: "x" } }), { registry: registryWithTag(), deps, excludeExecutor: exclude });
  return await runPipeline(p, input, { signal: new AbortController().signal, logger });
}

describe("pipeline", () => {
  test("execution_sequence runs in order", async () => {
    const r = await run(`pipeline:\n  name: p\n  executors:\n    - {id: a, type: tag, settings: {tag: A}}\n    - {id: b, type: tag, settings: {tag: "\${X}"}}\n  execution_sequence: [a, b]\n`, [item(1)]);
    assert.equal(r.status, "completed");
    assert.equal(r.content[0].data?.path, "Ax");
    assert.deepEqual(Object.keys(r.executor_outputs), ["a", "b"]);
  });

  test("edges win; fan-out copies, fan-in merges", async () => {
    const yaml = `pipelines:
  - name: p
    executors:
      - {id: s, type: tag, settings: {tag: S}}
      - {id: l, type: tag, settings: {tag: L}}
      - {id: r, type: tag, settings: {tag: R}}
      - {id: j, type: fan_in_aggregator}
    execution_sequence: [j]
    edges:
      - {from: s, to: [l, r], type: parallel}
      - {from: [l, r], to: j, type: join}
`;
    const r = await run(yaml, [item(1)]);
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content.length, 1);
    assert.equal(r.content[0].data?.path, "SL", "first branch wins per key; branches did not share objects");
  });

  test("disabled executors are bridged; the excluded input executor is dropped", async () => {
    const yaml = `pipeline:\n  name: p\n  executors:\n    - {id: in, type: tag, settings: {tag: I}}\n    - {id: a, type: tag, settings: {tag: A, enabled: false}}\n    - {id: b, type: tag, settings: {tag: B}}\n  execution_sequence: [in, a, b]\n`;
    const r = await run(yaml, [item(1)], "in");
    assert.equal(r.content[0].data?.path, "B");
  });

  test("conditions gate items; failing items pass through", async () => {
    const yaml = `pipeline:\n  name: p\n  executors:\n    - {id: a, type: tag, settings: {tag: A, condition: "data.line_count > 5"}}\n`;
    const r = await run(yaml, [item(1, { line_count: 10 }), item(2, { line_count: 1 })]);
    assert.deepEqual(r.content.map((c) => c.data?.path), ["A", undefined]);
  });

  test("an executor failure fails the pipeline, or passes through when fail_pipeline_on_error is false", async () => {
    const hard = await run(`pipeline:\n  name: p\n  executors:\n    - {id: a, type: tag, settings: {tag: A, fail: true}}\n`, [item(1)]);
    assert.equal(hard.status, "failed");
    assert.equal(hard.error, "executor 'a' failed: boom");
    const soft = await run(`pipeline:\n  name: p\n  executors:\n    - {id: a, type: tag, settings: {tag: A, fail: true, fail_pipeline_on_error: false}}\n`, [item(1)]);
    assert.equal(soft.status, "completed");
    assert.equal(soft.content[0].executor_logs?.at(-1)?.status, "failed");
  });

  test("cancellation", async () => {
    const p = compilePipeline(parsePipelineYaml(`pipeline:\n  name: p\n  executors:\n    - {id: a, type: pass_through}\n`), { registry: defaultRegistry(), deps });
    const ac = new AbortController();
    ac.abort(new Error("timed out after 1 s"));
    const r = await runPipeline(p, [item(1)], { signal: ac.signal, logger });
    assert.equal(r.status, "cancelled");
    assert.match(r.error!, /timed out after 1 s/);
  });

  const bad: Array<[string, RegExp]> = [
    ["pipeline: [", /does not parse/],
    ["pipeline:\n  name: p\n  executors: []\n", /no executors/],
    ["pipeline:\n  name: p\n  executors:\n    - {id: a, type: nope}\n", /unknown type 'nope'/],
    ["pipeline:\n  name: p\n  executors:\n    - {id: a, type: pass_through}\n    - {id: a, type: pass_through}\n  execution_sequence: [a]\n", /used more than once/],
    ["pipeline:\n  name: p\n  executors:\n    - {id: a, type: pass_through}\n  edges:\n    - {from: a, to: ghost}\n", /does not define/],
    ["pipeline:\n  name: p\n  executors:\n    - {id: a, type: pass_through}\n    - {id: b, type: pass_through}\n  edges:\n    - {from: a, to: b}\n    - {from: b, to: a}\n", /cycle/],
    ["pipeline:\n  name: p\n  executors:\n    - {id: a, type: tag, settings: {tag: 5}}\n", /executor 'a' \(tag\): invalid settings: tag/],
    ["pipeline:\n  name: p\n  executors:\n    - {id: a, type: tag, settings: {tag: \"${UNSET_VAR}\"}}\n", /UNSET_VAR is not set/],
    ["pipeline:\n  name: p\n  executors:\n    - {id: a, type: pass_through, settings: {condition: \"data.x ===\"}}\n", /invalid condition/],
    ["pipeline:\n  name: p\n  executors:\n    - {id: a, type: pass_through}\n    - {id: b, type: pass_through}\n  edges:\n    - {from: a, to: [{target: b, condition: \"x\"}]}\n", /edge conditions are not supported/],
  ];
  for (const [yaml, message] of bad) {
    test(`rejects: ${message.source}`, () => {
      assert.throws(() => compilePipeline(parsePipelineYaml(yaml, { env: {} }), { registry: registryWithTag(), deps }), (err: unknown) => {
        assert.ok(err instanceof PipelineError, String(err));
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

describe("condition evaluator", () => {
  const doc = { id: { filename: "a.pdf", path: "invoices/a.pdf" }, data: { line_count: 7, contains_pii: true, title: "Hello and world", tags: ["urgent"], lang: "en", x: null, list: [1, 2] } };
  const cases: Array<[string, boolean]> = [
    ["data.line_count > 5", true],
    ["data.line_count <= 5", false],
    ["data.contains_pii == true", true],
    ["data.title == 'Hello and world'", true],
    ["data.lang in ['en', 'fr']", true],
    ["data.lang not_in ['en']", false],
    ["data.tags contains 'urgent'", true],
    ["id.filename ends_with '.pdf' and data.line_count >= 3", true],
    ["id.path regex_match '^invoices/'", true],
    ["data.x is_empty", true],
    ["data.title is_not_empty", true],
    ["data.missing == 'a' or data.line_count == 7", true],
    ["(data.line_count > 100 or data.lang == 'en') and not data.contains_pii == false", true],
    ["data.list[1] == 2", true],
    ["data['lang'] starts_with 'e'", true],
  ];
  for (const [expr, expected] of cases) test(expr, () => assert.equal(compileCondition(expr).test(doc), expected));
  test("rejects prototype access and garbage", () => {
    assert.throws(() => compileCondition("data.__proto__ == 1"), /not allowed/);
    assert.throws(() => compileCondition("constructor.name == 'x'"), /not allowed/);
    assert.throws(() => compileCondition("data.x; process.exit()"), /unexpected/);
    assert.throws(() => compileCondition("x".repeat(3000)), /longer than/);
  });
});
