import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import {
  compilePipeline,
  defaultRegistry,
  findInputExecutor,
  parsePipelineYaml,
  type PipelineDefinition,
  PipelineError,
  runPipeline,
} from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { ExecutorDefinition } from "../../src/executors/types.ts";
import { perItemExecutor } from "../../src/executors/per-item.ts";
import { intSetting, stringListSetting } from "../../src/executors/settings.ts";
import { sleep } from "../helpers/wait.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const logger = new Logger();
const deps = { config, logger };

const item = (n: number, data: Record<string, unknown> = {}): Content => ({
  id: { canonical_id: `c${n}`, unique_id: `u${n}`, filename: `f${n}.txt` },
  data,
  summary_data: {},
  executor_logs: [],
});

/** Shared observations of the test executors. */
const seen = { active: 0, maxActive: 0, invoked: [] as string[], barrier: 0 };

function testRegistry() {
  // tag: batch executor appending its tag to data.path.
  const tagSettings = v.object({ tag: v.string(), fail: v.optional(v.boolean(), false) });
  const tag: ExecutorDefinition<typeof tagSettings> = {
    type: "tag",
    category: "transform",
    description: "test: appends its tag to data.path",
    settings: tagSettings,
    create: (id, s) => ({
      id,
      type: "tag",
      async process(input) {
        seen.invoked.push(id);
        if (s.fail) throw new Error("boom");
        return input.map((c) => ({ ...c, data: { ...c.data, path: `${(c.data?.path as string) ?? ""}${s.tag}` } }));
      },
    }),
  };
  // mtag: as tag, but changes the items it gets in place and returns them.
  const mtag: ExecutorDefinition<typeof tagSettings> = {
    type: "mtag",
    category: "transform",
    description: "test: appends its tag to data.path of the items it was given",
    settings: tagSettings,
    create: (id, s) => ({
      id,
      type: "mtag",
      process(input) {
        for (const c of input) c.data = Object.assign(c.data ?? {}, { path: `${c.data?.path ?? ""}${s.tag}` });
        return Promise.resolve(input);
      },
    }),
  };
  // ptag: per-item executor; may fail on some items, wait, hang, or meet the other branch at a barrier.
  const ptagSettings = v.object({
    tag: v.optional(v.string(), ""),
    fail_on: v.optional(stringListSetting("fail_on"), []),
    delay_ms: v.optional(intSetting("delay_ms", { min: 0 }), 0),
    hang: v.optional(v.boolean(), false),
    barrier: v.optional(v.boolean(), false),
  });
  const ptag: ExecutorDefinition<typeof ptagSettings> = {
    type: "ptag",
    category: "transform",
    description: "test: per-item tagger",
    settings: ptagSettings,
    create: (id, s) =>
      perItemExecutor(id, "ptag", async (c) => {
        seen.invoked.push(id);
        seen.active++;
        seen.maxActive = Math.max(seen.maxActive, seen.active);
        try {
          if (s.hang) await new Promise(() => undefined);
          if (s.barrier) {
            seen.barrier++;
            for (let i = 0; i < 200 && seen.barrier < 2; i++) await sleep(10);
            c = { ...c, data: { ...c.data, [`${id}_met_other_branch`]: seen.barrier >= 2 } };
          }
          if (s.delay_ms) await sleep(s.delay_ms);
          if (s.fail_on.includes(c.id.canonical_id)) throw new Error(`cannot ${id} ${c.id.canonical_id}`);
          return { ...c, data: { ...c.data, path: `${(c.data?.path as string) ?? ""}${s.tag}` } };
        } finally {
          seen.active--;
        }
      }),
  };
  return defaultRegistry().register(tag as unknown as ExecutorDefinition).register(
    ptag as unknown as ExecutorDefinition,
  ).register(mtag as unknown as ExecutorDefinition);
}

function compile(yaml: string, opts: { env?: Record<string, string>; exclude?: string | null } = {}) {
  return compilePipeline(parsePipelineYaml(yaml, { env: opts.env ?? { X: "x" } }), {
    registry: testRegistry(),
    deps,
    excludeExecutor: opts.exclude,
  });
}

async function run(
  yaml: string,
  input: Content[],
  opts: { env?: Record<string, string>; exclude?: string | null; handOver?: boolean } = {},
) {
  seen.active = 0;
  seen.maxActive = 0;
  seen.invoked = [];
  seen.barrier = 0;
  return await runPipeline(compile(yaml, opts), input, {
    signal: new AbortController().signal,
    logger,
    inputHandedOver: opts.handOver,
  });
}

const seq = (executors: string, order: string) =>
  `pipeline:\n  name: p\n  executors:\n${executors}  execution_sequence: [${order}]\n`;

describe("pipeline: document shapes and ${VAR}", () => {
  test("execution_sequence runs in order; ${VAR} whole, inside a string, and escaped", async () => {
    const r = await run(
      seq(
        `    - {id: a, type: tag, settings: {tag: A}}\n    - {id: b, type: tag, settings: {tag: "\${X}"}}\n    - {id: c, type: tag, settings: {tag: "<\${X}-$\${X}>"}}\n`,
        "a, b, c",
      ),
      [item(1)],
    );
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.path, "Ax<x-${X}>");
    assert.deepEqual(Object.keys(r.executor_outputs), ["a", "b", "c"]);
  });

  test('a number setting given as "${VAR}" is coerced after substitution', async () => {
    const yaml =
      `pipeline:\n  name: p\n  executors:\n    - id: chunk\n      type: recursive_text_chunker\n      settings: {chunk_size: "\${CHUNK}", chunk_overlap: 0, min_chunk_size: 0}\n`;
    const text = "word ".repeat(100);
    const r = await run(yaml, [item(1, { text })], { env: { CHUNK: "120" } });
    assert.equal(r.status, "completed", r.error);
    const chunks = r.content[0].data?.chunks as Array<{ text: string }>;
    assert.ok(chunks.length >= 4);
    for (const c of chunks) assert.ok(c.text.length <= 120, c.text);
  });

  test("pipelines: the first one, or the one named; a bare definition", () => {
    const multi =
      `pipelines:\n  - name: one\n    executors: [{id: a, type: pass_through}]\n  - name: two\n    executors: [{id: b, type: pass_through}]\n`;
    assert.equal(parsePipelineYaml(multi).name, "one");
    assert.equal(parsePipelineYaml(multi, { name: "two" }).executors[0].id, "b");
    assert.throws(() => parsePipelineYaml(multi, { name: "three" }), /no pipeline named 'three'/);
    assert.equal(parsePipelineYaml(`name: bare\nexecutors: [{id: a, type: pass_through}]\n`).name, "bare");
  });

  test("an unset variable in the excluded input executor does not matter", async () => {
    const yaml = seq(
      `    - {id: in, type: azure_blob_input_discovery, settings: {blob_storage_account: "\${NOT_SET_HERE}", blob_container_name: c}}\n    - {id: a, type: tag, settings: {tag: A}}\n`,
      "in, a",
    );
    const r = await run(yaml, [item(1)], { exclude: "in", env: {} });
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.path, "A");
  });
});

describe("pipeline: graph", () => {
  test("edges win over execution_sequence; fan-out gets copies, fan-in merges by canonical_id", async () => {
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
    const r = await run(yaml, [item(1), item(2)]);
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual(r.content.map((c) => [c.id.canonical_id, c.data?.path]), [["c1", "SL"], ["c2", "SL"]]);
  });

  test("parallel branches run at the same time", async () => {
    const yaml = `pipeline:
  name: p
  executors:
    - {id: s, type: pass_through}
    - {id: l, type: ptag, settings: {barrier: true}}
    - {id: r, type: ptag, settings: {barrier: true}}
    - {id: j, type: fan_in_aggregator}
  edges:
    - {from: s, to: [l, r], type: parallel}
    - {from: [l, r], to: j, type: join}
`;
    const r = await run(yaml, [item(1)]);
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.l_met_other_branch, true);
    assert.equal(r.content[0].data?.r_met_other_branch, true);
  });

  test("several sinks: their outputs concatenated in definition order", async () => {
    const yaml = `pipeline:
  name: p
  executors:
    - {id: s, type: tag, settings: {tag: S}}
    - {id: second, type: tag, settings: {tag: "2"}}
    - {id: first, type: ptag, settings: {tag: "1", delay_ms: 30}}
  edges:
    - {from: s, to: [first, second], type: parallel}
`;
    const r = await run(yaml, [item(1)]);
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual(r.content.map((c) => c.data?.path), ["S2", "S1"]);
  });

  test("a disabled executor is bridged: its predecessors feed its successors", async () => {
    const r = await run(
      seq(
        `    - {id: a, type: tag, settings: {tag: A}}\n    - {id: b, type: tag, settings: {tag: B, enabled: "\${OFF}"}}\n    - {id: c, type: tag, settings: {tag: C}}\n`,
        "a, b, c",
      ),
      [item(1)],
      { env: { OFF: "false" } },
    );
    assert.equal(r.content[0].data?.path, "AC");
    assert.deepEqual(Object.keys(r.executor_outputs), ["a", "c"]);
  });

  test("a disabled entry executor with a fan-out: each successor receives the input", async () => {
    const yaml = `pipeline:
  name: p
  executors:
    - {id: s, type: tag, settings: {tag: S, enabled: false}}
    - {id: l, type: tag, settings: {tag: L}}
    - {id: r, type: tag, settings: {tag: R}}
  edges:
    - {from: s, to: [l, r], type: parallel}
`;
    const r = await run(yaml, [item(1)]);
    assert.deepEqual(r.content.map((c) => c.data?.path), ["L", "R"]);
  });

  test("excluding the input executor: its successors receive the task input", async () => {
    const r = await run(
      seq(`    - {id: in, type: tag, settings: {tag: I}}\n    - {id: a, type: tag, settings: {tag: A}}\n`, "in, a"),
      [item(1)],
      { exclude: "in" },
    );
    assert.equal(r.content[0].data?.path, "A");
    assert.ok(!("in" in r.executor_outputs));
  });

  test("excluding the input executor named in a join's from list (ContentFlow left a dangling id in such joins)", async () => {
    const yaml = `pipeline:
  name: p
  executors:
    - {id: in, type: tag, settings: {tag: I}}
    - {id: a, type: tag, settings: {tag: A}}
    - {id: j, type: tag, settings: {tag: J}}
  edges:
    - {from: in, to: a}
    - {from: [in, a], to: j, type: join}
`;
    const r = await run(yaml, [item(1)], { exclude: "in" });
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual(r.content.map((c) => c.data?.path), ["J", "AJ"]);
  });

  test("excluding the only executor makes a pass-through", async () => {
    const input = [item(1, { keep: true })];
    const r = await run(`pipeline:\n  name: p\n  executors:\n    - {id: in, type: tag, settings: {tag: I}}\n`, input, {
      exclude: "in",
    });
    assert.equal(r.status, "completed");
    assert.deepEqual(r.content, input);
    assert.notEqual(r.content[0], input[0], "the result is a copy");
  });

  test("excluding an executor the pipeline does not have is an error", () => {
    assert.throws(
      () => compile(seq(`    - {id: a, type: tag, settings: {tag: A}}\n`, "a"), { exclude: "gone" }),
      /input executor 'gone' is not in the pipeline/,
    );
  });

  test("executors that no edge reaches never run and are reported", async () => {
    const p = compile(
      `pipeline:\n  name: p\n  executors:\n    - {id: a, type: tag, settings: {tag: A}}\n    - {id: lone, type: tag, settings: {tag: L}}\n  edges: []\n`
        .replace("  edges: []\n", "  execution_sequence: [a]\n"),
    );
    assert.deepEqual(p.order, ["a"]);
    assert.match(p.warnings.join("\n"), /'lone' is not connected/);
  });

  test("settings an executor does not know are reported", () => {
    const p = compile(
      seq(
        `    - {id: c, type: recursive_text_chunker, settings: {chunk_sise: 10, condition: "data.x is_empty"}}\n`,
        "c",
      ),
    );
    assert.deepEqual(p.warnings, ["executor 'c' (recursive_text_chunker): unknown setting 'chunk_sise' is ignored"]);
  });

  test("the caller's input is not mutated", async () => {
    const input = [item(1, { path: "" })];
    const snapshot = structuredClone(input);
    await run(seq(`    - {id: a, type: ptag, settings: {tag: A}}\n`, "a"), input);
    assert.deepEqual(input, snapshot);
    await run(seq(`    - {id: a, type: mtag, settings: {tag: A}}\n`, "a"), input);
    assert.deepEqual(input, snapshot, "not even by an executor that changes its items in place");
  });

  test("input handed over: its last reader gets it uncopied, earlier readers get copies", async () => {
    // Both `a` and `j` read the task's input; `a` runs first, `j` (after `a`) is its last reader.
    const yaml = `pipeline:
  name: p
  executors:
    - {id: in, type: mtag, settings: {tag: I}}
    - {id: a, type: mtag, settings: {tag: A}}
    - {id: j, type: mtag, settings: {tag: J}}
  edges:
    - {from: in, to: a}
    - {from: [in, a], to: j, type: join}
`;
    const kept = [item(1)];
    const kept0 = structuredClone(kept);
    const handed = [item(1)];
    const r1 = await run(yaml, kept, { exclude: "in" });
    const r2 = await run(yaml, handed, { exclude: "in", handOver: true });
    assert.equal(r2.status, "completed", r2.error);
    assert.deepEqual(r2.content.map((c) => c.data?.path), ["J", "AJ"], "`a` changed a copy, not `j`'s input");
    assert.deepEqual(r2.content, r1.content);
    assert.deepEqual(kept, kept0);
    assert.equal(r2.content[0], handed[0], "the last reader got the caller's own item");
  });

  test("input handed over to a pipeline of nothing: returned as is", async () => {
    const input = [item(1)];
    const r = await run(`pipeline:\n  name: p\n  executors:\n    - {id: in, type: tag, settings: {tag: I}}\n`, input, {
      exclude: "in",
      handOver: true,
    });
    assert.equal(r.content, input);
  });
});

describe("pipeline: conditions, errors, concurrency", () => {
  test("per-item executor: items failing the condition pass through in place", async () => {
    const r = await run(
      seq(`    - {id: a, type: ptag, settings: {tag: A, condition: "data.line_count > 5"}}\n`, "a"),
      [item(1, { line_count: 10 }), item(2, { line_count: 1 }), item(3, { line_count: 6 })],
    );
    assert.deepEqual(r.content.map((c) => [c.id.canonical_id, c.data?.path]), [["c1", "A"], ["c2", undefined], [
      "c3",
      "A",
    ]]);
    assert.equal(r.executor_outputs.a.items_skipped, 1);
    assert.deepEqual(r.content[1].executor_logs, [], "skipped items get no log entry");
  });

  test("batch executor: items failing the condition follow the processed ones", async () => {
    const r = await run(
      seq(`    - {id: a, type: tag, settings: {tag: A, condition: "data.line_count > 5"}}\n`, "a"),
      [item(1, { line_count: 1 }), item(2, { line_count: 10 })],
    );
    assert.deepEqual(r.content.map((c) => [c.id.canonical_id, c.data?.path]), [["c2", "A"], ["c1", undefined]]);
  });

  test("a condition that cannot be evaluated fails the executor with a clear message", async () => {
    const r = await run(seq(`    - {id: a, type: ptag, settings: {condition: "data.n > 5"}}\n`, "a"), [
      item(1, { n: [1] }),
    ]);
    assert.equal(r.status, "failed");
    assert.match(
      r.error!,
      /executor 'a' failed: condition 'data.n > 5' failed on item c1: cannot compare list with number/,
    );
  });

  test("fail_pipeline_on_error false: each item whose condition cannot be evaluated gets its own failed entry", async () => {
    for (const type of ["ptag", "tag"]) {
      const r = await run(
        seq(
          `    - {id: a, type: ${type}, settings: {tag: A, condition: "data.n > 5", fail_pipeline_on_error: false}}\n`,
          "a",
        ),
        [item(1, { n: [1] }), item(2, { n: 9 }), item(3, { n: "x" }), item(4, { n: 1 })],
      );
      assert.equal(r.status, "completed", type);
      const byId = new Map(r.content.map((c) => [c.id.canonical_id, c]));
      assert.deepEqual([...byId.keys()].sort(), ["c1", "c2", "c3", "c4"], type);
      assert.equal(byId.get("c2")!.data?.path, "A", `${type}: the item meeting the condition is processed`);
      assert.equal(byId.get("c4")!.data?.path, undefined, `${type}: the item not meeting it passes untouched`);
      for (const [id, what] of [["c1", "list"], ["c3", "string"]]) {
        const c = byId.get(id)!;
        assert.equal(c.data?.path, undefined, `${type}: ${id} is not processed`);
        assert.deepEqual(c.executor_logs?.map((l) => [l.executor_id, l.status]), [["a", "failed"]], `${type} ${id}`);
        assert.match(
          c.executor_logs![0].errors[0],
          new RegExp(`^condition 'data.n > 5' failed on item ${id}: cannot compare ${what} with number`),
          `${type}: ${id} names its own error`,
        );
      }
      assert.deepEqual(byId.get("c4")!.executor_logs?.filter((l) => l.status === "failed"), [], type);
      const out = r.executor_outputs.a;
      assert.equal(out.items_failed, 2, type);
      assert.equal(out.items_skipped, 1, type);
      assert.match(out.error!, /failed on item c1/, type);
    }
  });

  test("fail_pipeline_on_error (default true) fails the pipeline; false passes the input on with a failed log", async () => {
    const hard = await run(
      seq(
        `    - {id: a, type: tag, settings: {tag: A, fail: true}}\n    - {id: b, type: tag, settings: {tag: B}}\n`,
        "a, b",
      ),
      [item(1)],
    );
    assert.equal(hard.status, "failed");
    assert.equal(hard.error, "executor 'a' failed: boom");
    assert.deepEqual(hard.content, []);
    assert.ok(!seen.invoked.includes("b"), "nothing runs after a failure");
    const soft = await run(
      seq(
        `    - {id: a, type: tag, settings: {tag: A, fail: true, fail_pipeline_on_error: "false"}}\n    - {id: b, type: tag, settings: {tag: B}}\n`,
        "a, b",
      ),
      [item(1)],
    );
    assert.equal(soft.status, "completed");
    assert.equal(soft.content[0].data?.path, "B");
    assert.deepEqual(soft.content[0].executor_logs?.map((l) => [l.executor_id, l.status, l.errors]), [["a", "failed", [
      "boom",
    ]]]);
    assert.equal(soft.executor_outputs.a.status, "failed");
  });

  test("an item error fails the pipeline (fail_pipeline_on_error defaults to true), whatever continue_on_error says, as in ContentFlow", async () => {
    for (const extra of ["", ", continue_on_error: true", ", continue_on_error: false"]) {
      const r = await run(
        seq(`    - {id: a, type: ptag, settings: {tag: A, fail_on: "c2", max_concurrent: 1${extra}}}\n`, "a"),
        [item(1), item(2), item(3)],
      );
      assert.equal(r.status, "failed", extra);
      assert.match(r.error!, /executor 'a' failed: item c2: cannot a c2/);
      assert.deepEqual(r.content, []);
    }
  });

  test("fail_pipeline_on_error false: a failed item passes on unchanged with a failed log entry, the others are processed", async () => {
    for (const extra of ["", ", continue_on_error: false"]) {
      const r = await run(
        seq(
          `    - {id: a, type: ptag, settings: {tag: A, fail_on: "c2", fail_pipeline_on_error: false${extra}}}\n`,
          "a",
        ),
        [item(1), item(2), item(3)],
      );
      assert.equal(r.status, "completed", r.error);
      assert.deepEqual(r.content.map((c) => c.data?.path), ["A", undefined, "A"]);
      assert.deepEqual(r.content.map((c) => c.executor_logs?.[0]?.status), ["completed", "failed", "completed"]);
      assert.deepEqual(r.content[1].executor_logs?.[0]?.errors, ["cannot a c2"]);
      assert.equal(r.executor_outputs.a.items_failed, 1);
      assert.match(r.executor_outputs.a.error!, /c2: cannot a c2/);
    }
  });

  test("continue_on_error compiles with a warning that it is ignored", () => {
    const p = compile(seq(`    - {id: a, type: ptag, settings: {tag: A, continue_on_error: true}}\n`, "a"));
    assert.ok(p.warnings.some((w) => /executor 'a' \(ptag\): continue_on_error is ignored, as in ContentFlow/.test(w)));
  });

  test("max_concurrent bounds the items in flight", async () => {
    const items = [1, 2, 3, 4, 5, 6].map((n) => item(n));
    const r = await run(
      seq(`    - {id: a, type: ptag, settings: {tag: A, delay_ms: 20, max_concurrent: 2}}\n`, "a"),
      items,
    );
    assert.equal(r.status, "completed");
    assert.equal(seen.maxActive, 2);
    const one = await run(
      seq(`    - {id: a, type: ptag, settings: {tag: A, delay_ms: 5, max_concurrent: "1"}}\n`, "a"),
      items,
    );
    assert.equal(one.status, "completed");
    assert.equal(seen.maxActive, 1);
  });

  test("timeout_secs fails an item that takes too long", async () => {
    const r = await run(
      seq(`    - {id: a, type: ptag, settings: {hang: true, timeout_secs: 1, fail_pipeline_on_error: false}}\n`, "a"),
      [item(1)],
    );
    assert.equal(r.status, "completed");
    assert.deepEqual(r.content[0].executor_logs?.[0]?.errors, ["timed out after 1 s"]);
    const strict = await run(seq(`    - {id: a, type: ptag, settings: {hang: true, timeout_secs: 1}}\n`, "a"), [
      item(1),
    ]);
    assert.equal(strict.status, "failed");
    assert.match(strict.error!, /timed out after 1 s/);
  });

  test("per-item executors append a completed log entry to each item", async () => {
    const r = await run(seq(`    - {id: pt, type: pass_through}\n`, "pt"), [item(1)]);
    const log = r.content[0].executor_logs![0];
    assert.equal(log.executor_id, "pt");
    assert.equal(log.status, "completed");
    assert.ok(Date.parse(log.start_time!) <= Date.parse(log.end_time!));
  });

  test("events: invoked and completed per executor with durations, then the pipeline outcome", async () => {
    const r = await run(seq(`    - {id: a, type: tag, settings: {tag: A}}\n    - {id: b, type: ptag}\n`, "a, b"), [
      item(1),
    ]);
    assert.deepEqual(r.events.map((e) => [e.event_type, e.executor_id]), [
      ["executor_invoked", "a"],
      ["executor_completed", "a"],
      ["executor_invoked", "b"],
      ["executor_completed", "b"],
      ["pipeline_completed", undefined],
    ]);
    for (const e of r.events) assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
    assert.equal(typeof r.events[1].duration_ms, "number");
    assert.deepEqual(r.executor_outputs.a, {
      status: "completed",
      duration_ms: r.executor_outputs.a.duration_ms,
      items_in: 1,
      items_out: 1,
    });
    assert.ok(r.duration_seconds >= 0);
    assert.ok(Date.parse(r.start_time) <= Date.parse(r.end_time));
  });
});

describe("pipeline: cancellation", () => {
  test("an already aborted signal: cancelled, nothing runs", async () => {
    const ac = new AbortController();
    ac.abort(new Error("timed out after 1 s"));
    seen.invoked = [];
    const r = await runPipeline(compile(seq(`    - {id: a, type: tag, settings: {tag: A}}\n`, "a")), [item(1)], {
      signal: ac.signal,
      logger,
    });
    assert.equal(r.status, "cancelled");
    assert.match(r.error!, /cancelled: timed out after 1 s/);
    assert.deepEqual(seen.invoked, []);
  });

  test("abort during a run stops it promptly even if the executor ignores the signal", async () => {
    const ac = new AbortController();
    seen.invoked = [];
    const p = compile(
      seq(`    - {id: a, type: ptag, settings: {hang: true}}\n    - {id: b, type: tag, settings: {tag: B}}\n`, "a, b"),
    );
    const running = runPipeline(p, [item(1)], { signal: ac.signal, logger });
    await sleep(20);
    ac.abort(new Error("task timeout"));
    const r = await running;
    assert.equal(r.status, "cancelled");
    assert.match(r.error!, /task timeout/);
    assert.equal(r.executor_outputs.a.status, "failed");
    assert.ok(!seen.invoked.includes("b"));
    assert.equal(r.events.at(-1)?.event_type, "pipeline_cancelled");
  });

  test("executors receive the abort signal", async () => {
    let sawAbort = false;
    const s = v.object({});
    const waiter: ExecutorDefinition<typeof s> = {
      type: "waiter",
      category: "utility",
      description: "test",
      settings: s,
      create: (id) => ({
        id,
        type: "waiter",
        process: (input, ctx) =>
          new Promise((resolve) =>
            ctx.signal.addEventListener("abort", () => {
              sawAbort = true;
              resolve(input);
            })
          ),
      }),
    };
    const registry = defaultRegistry().register(waiter as unknown as ExecutorDefinition);
    const p = compilePipeline(parsePipelineYaml(`pipeline:\n  name: p\n  executors: [{id: w, type: waiter}]\n`), {
      registry,
      deps,
    });
    const ac = new AbortController();
    const running = runPipeline(p, [item(1)], { signal: ac.signal, logger });
    await sleep(10);
    ac.abort();
    assert.equal((await running).status, "cancelled");
    assert.ok(sawAbort);
  });
});

describe("pipeline: input executor selection", () => {
  const def = (yaml: string): PipelineDefinition => parsePipelineYaml(yaml, { env: {} });
  test("the first enabled executor of category input that can crawl (not a content retriever)", () => {
    const d = def(`pipeline:
  name: p
  executors:
    - {id: get, type: azure_blob_content_retriever}
    - {id: off, type: azure_blob_input_discovery, settings: {enabled: false, blob_container_name: a}}
    - {id: list, type: azure_blob_input_discovery, settings: {blob_container_name: b}}
  execution_sequence: [list, get]
`);
    assert.equal(findInputExecutor(d, defaultRegistry())?.id, "list");
  });
  test("none when no executor can crawl", () => {
    const d = def(`pipeline:\n  name: p\n  executors:\n    - {id: get, type: azure_blob_content_retriever}\n`);
    assert.equal(findInputExecutor(d, defaultRegistry()), undefined);
  });
});

describe("pipeline: invalid documents", () => {
  const P = "pipeline:\n  name: p\n  executors:\n";
  const bad: Array<[string, string, RegExp]> = [
    ["YAML syntax", "pipeline: [", /pipeline YAML does not parse/],
    ["not a mapping", "- a\n- b\n", /must be a mapping/],
    ["no executors", `${P.replace("executors:\n", "executors: []\n")}`, /no executors/],
    ["executor without type", `${P}    - {id: a}\n`, /executors\.0\.type/],
    ["settings not a mapping", `${P}    - {id: a, type: pass_through, settings: [1]}\n`, /settings: must be a mapping/],
    [
      "unknown type",
      `${P}    - {id: a, type: nope}\n`,
      /executor 'a': unknown type 'nope' \(known types: .*pass_through/,
    ],
    [
      "duplicate id",
      `${P}    - {id: a, type: pass_through}\n    - {id: a, type: pass_through}\n  execution_sequence: [a]\n`,
      /executor id 'a' is used more than once/,
    ],
    [
      "self edge",
      `${P}    - {id: a, type: pass_through}\n  edges:\n    - {from: a, to: a}\n`,
      /connects executor 'a' to itself/,
    ],
    [
      "cycle",
      `${P}    - {id: r, type: pass_through}\n    - {id: a, type: pass_through}\n    - {id: b, type: pass_through}\n  edges:\n    - {from: r, to: a}\n    - {from: a, to: b}\n    - {from: b, to: a}\n`,
      /cycle through: a, b/,
    ],
    [
      "several roots",
      `${P}    - {id: a, type: pass_through}\n    - {id: b, type: pass_through}\n    - {id: c, type: pass_through}\n  edges:\n    - {from: a, to: c}\n    - {from: b, to: c}\n`,
      /several entry executors \(a, b\)/,
    ],
    [
      "several executors, no order",
      `${P}    - {id: a, type: pass_through}\n    - {id: b, type: pass_through}\n`,
      /neither `edges` nor `execution_sequence`/,
    ],
    [
      "empty edges with several executors",
      `${P}    - {id: a, type: pass_through}\n    - {id: b, type: pass_through}\n  edges: []\n`,
      /`edges` is empty/,
    ],
    [
      "edge condition",
      `${P}    - {id: a, type: pass_through}\n    - {id: b, type: pass_through}\n  edges:\n    - {from: a, to: [{target: b, condition: "data.x == 1"}]}\n`,
      /edges\[0\]: edge conditions are not supported; use settings.condition on the target executor \('b'\)/,
    ],
    [
      "bad own setting",
      `${P}    - {id: c, type: recursive_text_chunker, settings: {chunk_size: abc}}\n`,
      /executor 'c' \(recursive_text_chunker\): invalid settings: chunk_size: chunk_size must be a whole number/,
    ],
    [
      "bad common setting",
      `${P}    - {id: a, type: pass_through, settings: {max_concurrent: 0}}\n`,
      /executor 'a' \(pass_through\): invalid settings: max_concurrent: max_concurrent must be a whole number from 1 to 100/,
    ],
    [
      "bad enabled",
      `${P}    - {id: a, type: pass_through, settings: {enabled: maybe}}\n`,
      /enabled must be true or false/,
    ],
    [
      "invalid condition",
      `${P}    - {id: a, type: pass_through, settings: {condition: "data.x = 1"}}\n`,
      /executor 'a' \(pass_through\): invalid condition: unexpected '='/,
    ],
    [
      "cross-check of own settings",
      `${P}    - {id: c, type: recursive_text_chunker, settings: {chunk_size: 100, chunk_overlap: 100}}\n`,
      /chunk_overlap must be less than chunk_size/,
    ],
  ];
  for (const [name, yaml, message] of bad) {
    test(`rejects: ${name}`, () => {
      assert.throws(
        () => compilePipeline(parsePipelineYaml(yaml, { env: {} }), { registry: testRegistry(), deps }),
        (err: unknown) => {
          assert.ok(err instanceof PipelineError, String(err));
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});
