// Behaviour that matches ContentFlow's Python executors where the differential suite (tests/unit/differential.test.ts)
// found ours different: lengths in code points, stripped string settings, null fields left out by field_selector,
// no log entries on table rows, Python's int() underscores. Each test names the Python behaviour it pins.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import {
  compilePipeline,
  createExecutor,
  defaultRegistry,
  runPipeline,
  validatePipelineDefinition,
} from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { ExecutorRunContext } from "../../src/executors/types.ts";
import { codePointLength, lastCodePoints } from "../../src/util/code-points.ts";
import { csvCharSetting, stringListSetting, whitespaceRule, withoutEmptyValues } from "../../src/executors/settings.ts";
import { inferType } from "../../src/executors/csv.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const logger = new Logger();
const deps = { config, logger };
const registry = defaultRegistry();
const ctx: ExecutorRunContext = { executorId: "x", pipelineName: "p", signal: new AbortController().signal, logger };

const item = (n: number, data: Record<string, unknown> = {}): Content => ({
  id: { canonical_id: `c${n}`, unique_id: `u${n}` },
  data,
  summary_data: {},
  executor_logs: [],
});

async function runOne(type: string, settings: Record<string, unknown>, input: Content[]) {
  const def = validatePipelineDefinition({ name: "p", executors: [{ id: "x", type, settings }] }, { env: {} });
  const compiled = compilePipeline(def, { registry, deps });
  try {
    return await runPipeline(compiled, input, { signal: new AbortController().signal, logger });
  } finally {
    await compiled.close();
  }
}

describe("code points (Python's len and slices)", () => {
  test("an emoji or other astral character counts once", () => {
    assert.equal(codePointLength("a😀b"), 3);
    assert.equal(codePointLength("𝔘𝔫𝔦"), 3);
    assert.equal(codePointLength("naïve 東京"), 8);
    assert.equal(codePointLength(""), 0);
    assert.equal(codePointLength("\uD800x"), 2, "a lone surrogate is one code point");
  });

  test("the last n code points never split a pair", () => {
    assert.equal(lastCodePoints("ab😀😀", 2), "😀😀");
    assert.equal(lastCodePoints("ab😀", 2), "b😀");
    assert.equal(lastCodePoints("ab", 5), "ab");
    assert.equal(lastCodePoints("ab", 0), "");
  });
});

describe("recursive_text_chunker counts code points", () => {
  test("char_count, chunk boundaries and avg_chunk_size as Python's len() gives them", async () => {
    const text = "😀".repeat(150) + ". " + "x".repeat(60) + ".";
    const [out] = await createExecutor(
      {
        id: "x",
        type: "recursive_text_chunker",
        settings: { chunk_size: 160, chunk_overlap: 0, min_chunk_size: 0, separators: ". " },
      },
      registry,
      deps,
    ).process([item(1, { text })], ctx);
    const chunks = out.data.chunks as Array<{ text: string; metadata: { char_count: number } }>;
    // 151 code points fit in one chunk of 160 (as UTF-16 units they are 301 and would be split further).
    assert.deepEqual(chunks.map((c) => c.metadata.char_count), [151, 61]);
    assert.equal(chunks[0].text, "😀".repeat(150) + ".");
    assert.equal(out.summary_data.avg_chunk_size, 106);
  });

  test("the overlap takes the last chunk_overlap code points", async () => {
    const text = "aaaa bbbb 😀😀😀😀. cccc dddd eeee ffff.";
    const [out] = await createExecutor(
      {
        id: "x",
        type: "recursive_text_chunker",
        settings: { chunk_size: 20, chunk_overlap: 6, min_chunk_size: 0, separators: ". " },
      },
      registry,
      deps,
    ).process([item(1, { text })], ctx);
    const chunks = out.data.chunks as Array<{ text: string }>;
    // Python: text[-6:] of the first chunk is " 😀😀😀😀." (6 code points; 6 UTF-16 units would be "😀😀😀.").
    assert.equal(chunks[1].text, " 😀😀😀😀. cccc dddd eeee ffff.");
  });
});

describe("string settings are stripped, blank means unset (ContentFlow's get_setting)", () => {
  test("surrounding whitespace is dropped and a blank value falls back to the default", () => {
    assert.deepEqual(withoutEmptyValues({ a: " text ", b: "   ", c: null, d: "", e: 3, f: ["  x  "] }), {
      a: "text",
      e: 3,
      f: ["  x  "],
    });
  });

  test("separators keep their whitespace; delimiters and quote characters unless they are only whitespace", () => {
    for (const key of ["separators", "page_separator", "concatenate_separator"]) {
      assert.equal(whitespaceRule(key), "as-written", key);
    }
    for (const key of ["delimiter", "csv_delimiter", "nested_delimiter", "csv_quotechar"]) {
      assert.equal(whitespaceRule(key), "unless-blank", key);
    }
    assert.deepEqual(
      withoutEmptyValues({ page_separator: "\n\n---\n\n", delimiter: "\t", nested_delimiter: " . ", sep: " " }),
      { page_separator: "\n\n---\n\n", delimiter: "\t", nested_delimiter: "." },
    );
  });

  test("an output field written with spaces is the stripped name", async () => {
    const r = await runOne("recursive_text_chunker", { output_field: " pieces ", input_field: "  " }, [
      item(1, { text: "Short text." }),
    ]);
    assert.equal(r.status, "completed", r.error);
    assert.ok(Array.isArray(r.content[0].data.pieces));
  });

  test("entries of a list are taken as written; comma-separated text is split and trimmed", () => {
    const schema = stringListSetting("fields");
    assert.deepEqual(v.parse(schema, [" a ", "b", ""]), [" a ", "b"]);
    assert.deepEqual(v.parse(schema, '[" a ", "b"]'), [" a ", "b"]);
    assert.deepEqual(v.parse(schema, " a , b ,"), ["a", "b"]);
  });

  test("CSV characters: spaces around one character are stripped, whitespace alone stays, \\t is a tab", () => {
    const schema = csvCharSetting("delimiter");
    assert.equal(v.parse(schema, " | "), "|");
    assert.equal(v.parse(schema, "\t"), "\t");
    assert.equal(v.parse(schema, " "), " ");
    assert.equal(v.parse(schema, "\\t"), "\t");
    assert.throws(() => v.parse(schema, "ab"), /delimiter must be one character/);
  });
});

describe("field_selector leaves out selected fields that are null (as ContentFlow)", () => {
  const data = { title: "T", nothing: null, meta: { year: 2024, none: null }, body: "B" };

  test("include: a null field, top-level or nested, is not written", async () => {
    const [out] = await createExecutor(
      {
        id: "x",
        type: "field_selector",
        settings: { fields: ["title", "nothing", "meta.none", "meta.year"] },
      },
      registry,
      deps,
    ).process([item(1, structuredClone(data))], ctx);
    assert.deepEqual(out.data, { title: "T", meta: { year: 2024 } });
  });

  test("include, flat: the same", async () => {
    const [out] = await createExecutor(
      {
        id: "x",
        type: "field_selector",
        settings: { fields: ["title", "nothing"], preserve_structure: false },
      },
      registry,
      deps,
    ).process([item(1, structuredClone(data))], ctx);
    assert.deepEqual(out.data, { title: "T" });
  });

  test("exclude: a null top-level field is left out, a null inside a kept object stays", async () => {
    const [out] = await createExecutor(
      { id: "x", type: "field_selector", settings: { mode: "exclude", fields: ["body"] } },
      registry,
      deps,
    )
      .process([item(1, structuredClone(data))], ctx);
    assert.deepEqual(out.data, { title: "T", meta: { year: 2024, none: null } });
  });
});

describe("table_row_splitter: row items get no executor log entry (as ContentFlow)", () => {
  test("in a pipeline run, the rows carry no log entry of the splitter", async () => {
    const r = await runOne("table_row_splitter", {}, [item(1, { table: [{ a: 1 }, { a: 2 }] })]);
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content.length, 2);
    for (const row of r.content) assert.deepEqual(row.executor_logs, []);
  });

  test("an item without its table fails the run by default", async () => {
    const r = await runOne("table_row_splitter", {}, [item(1, { other: 1 })]);
    assert.equal(r.status, "failed");
    assert.match(r.error ?? "", /item c1: table field 'table' not found/);
  });

  test("with fail_pipeline_on_error false it passes on with a failed log entry, the other items are split", async () => {
    const r = await runOne("table_row_splitter", { fail_pipeline_on_error: false }, [
      item(1, { other: 1 }),
      item(2, { table: [{ a: 1 }] }),
    ]);
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual(r.content.map((c) => c.id.canonical_id), ["c1", "c2_row_0"]);
    const [entry] = r.content[0].executor_logs ?? [];
    assert.equal(entry.status, "failed");
    assert.match(entry.errors?.[0] ?? "", /table field 'table' not found/);
    assert.deepEqual(r.content[1].executor_logs, []);
  });
});

describe("csv_extractor infer_types reads numbers as Python's int() and float() do", () => {
  test("underscores between digits", () => {
    assert.equal(inferType("1_000"), 1000);
    assert.equal(inferType("2_5.0"), 25);
    assert.equal(inferType("1e1_0"), 1e10);
    for (const text of ["1__0", "_1", "1_", "1_.5"]) assert.equal(inferType(text), text);
  });

  test("end to end, with a spaced delimiter", async () => {
    const r = await runOne("csv_extractor", { infer_types: true, delimiter: " ; " }, [
      item(1, { content: "a;b\n1_000;x\n" }),
    ]);
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual((r.content[0].data.csv_output as { rows: unknown[] }).rows, [{ a: 1000, b: "x" }]);
  });
});
