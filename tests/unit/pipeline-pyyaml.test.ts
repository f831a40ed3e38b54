// Documents ContentFlow's Python worker loads (PyYAML 6 safe_load, YAML 1.1) load here with the same data: YAML 1.1
// scalars, merge keys, duplicate keys; edges with unknown types or undefined executor ids run as ContentFlow runs
// them; a choice setting outside its options that ContentFlow's executor reads as one option is read so. Each reading
// an author may not expect is a `pipeline check` warning. Every expected value in the tables
// below is what PyYAML 6.0.3's yaml.safe_load gave for the same text (Python is not needed to run this test).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MAX_ALIAS_EXPANSION, readYamlDocument, YamlSyntaxError } from "../../src/pipeline/yaml.ts";
import { pyYamlPlainScalar } from "../../src/pipeline/yaml-scalars.ts";
import { compilePipeline, defaultRegistry, parsePipelineYaml, runPipeline } from "../../src/pipeline/index.ts";
import { checkPipelineYaml } from "../../src/pipeline/check.ts";
import { CHOICE_FALLBACKS, withChoiceFallbacks } from "../../src/pipeline/choice-fallbacks.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const deps = { config, logger: new Logger() };

/** `k: <text>` → safe_load(...)["k"], and Python's type of it, from PyYAML 6.0.3. */
const SCALARS: Array<[string, unknown, string]> = [
  ["017", 15, "int"],
  ["-017", -15, "int"],
  ["0017", 15, "int"],
  ["00", 0, "int"],
  ["0o17", "0o17", "str"],
  ["08", "08", "str"],
  ["09", "09", "str"],
  ["012345678", "012345678", "str"],
  ["1_000", 1000, "int"],
  ["1__0", 10, "int"],
  ["_1", "_1", "str"],
  ["1_", 1, "int"],
  ["1:30", 90, "int"],
  ["-1:30", -90, "int"],
  ["1:30:00", 5400, "int"],
  ["1:60", "1:60", "str"],
  ["0:0", "0:0", "str"],
  ["190:20:30.15", 685230.15, "float"],
  ["12:30:45.5", 45045.5, "float"],
  ["1e3", "1e3", "str"],
  ["1.0e3", "1.0e3", "str"],
  ["12e03", "12e03", "str"],
  ["1.2e3", "1.2e3", "str"],
  ["1.5e3", "1.5e3", "str"],
  ["1e-3", "1e-3", "str"],
  ["1.5e+3", 1500, "float"],
  ["1.5E+3", 1500, "float"],
  ["1.e+3", 1000, "float"],
  ["6.8523015e+5", 685230.15, "float"],
  ["685.230_15e+03", 685230.15, "float"],
  ["1_0.5", 10.5, "float"],
  ["3.14_15", 3.1415, "float"],
  ["0.", 0, "float"],
  ["1.", 1, "float"],
  [".5", 0.5, "float"],
  ["-.5", "-.5", "str"],
  ["0x1A", 26, "int"],
  ["+0x1A", 26, "int"],
  ["0x_1A", 26, "int"],
  ["0x", "0x", "str"],
  ["0b101", 5, "int"],
  ["-0b11", -3, "int"],
  ["0b1_0", 2, "int"],
  ["0b", "0b", "str"],
  [".inf", Infinity, "float"],
  ["-.inf", -Infinity, "float"],
  ["+.inf", Infinity, "float"],
  [".Inf", Infinity, "float"],
  [".nan", NaN, "float"],
  [".NaN", NaN, "float"],
  ["yes", true, "bool"],
  ["Yes", true, "bool"],
  ["YES", true, "bool"],
  ["no", false, "bool"],
  ["on", true, "bool"],
  ["On", true, "bool"],
  ["off", false, "bool"],
  ["Off", false, "bool"],
  ["OFF", false, "bool"],
  ["oN", "oN", "str"],
  ["y", "y", "str"],
  ["n", "n", "str"],
  ["Y", "Y", "str"],
  ["true", true, "bool"],
  ["True", true, "bool"],
  ["TRUE", true, "bool"],
  ["tRue", "tRue", "str"],
  ["false", false, "bool"],
  ["FALSE", false, "bool"],
  ["~", null, "NoneType"],
  ["null", null, "NoneType"],
  ["Null", null, "NoneType"],
  ["NULL", null, "NoneType"],
  ["nUll", "nUll", "str"],
  ["", null, "NoneType"],
  ["0", 0, "int"],
  ["-0", 0, "int"],
  ["+12", 12, "int"],
  ["1,000", "1,000", "str"],
];

describe("YAML 1.1 scalars as PyYAML 6 reads them", () => {
  for (const [text, expected, pyType] of SCALARS) {
    test(`k: ${text} → ${String(expected)} (${pyType})`, () => {
      const value = (readYamlDocument(`k: ${text}\n`).value as Record<string, unknown>).k;
      assert.equal(value, expected);
      const kind = pyYamlPlainScalar(text).kind;
      assert.equal(kind, pyType === "NoneType" ? "null" : pyType);
    });
  }

  test("timestamps (dates for PyYAML: 2024-01-05 → datetime.date(2024, 1, 5)) stay text, with a note", () => {
    for (const text of ["2024-01-05", "2024-01-05 10:00:00", "2001-12-14t21:59:43.10-05:00"]) {
      const doc = readYamlDocument(`k: ${text}\n`);
      assert.deepEqual(doc.value, { k: text });
      assert.match(doc.notes[0], /^line 1: .* is a date for PyYAML; it is read as the text/);
    }
  });

  test("quoted and block scalars are text; explicit tags are applied as PyYAML applies them", () => {
    const doc = readYamlDocument(
      "a: '017'\nb: \"yes\"\nc: |\n  017\nd: !!int '017'\ne: !!str 017\nf: !!float '3'\ng: !!bool 'yes'\nh: !!null x\n",
    );
    // PyYAML: {'a': '017', 'b': 'yes', 'c': '017\n', 'd': 15, 'e': '017', 'f': 3.0, 'g': True, 'h': None}
    assert.deepEqual(doc.value, { a: "017", b: "yes", c: "017\n", d: 15, e: "017", f: 3, g: true, h: null });
    assert.deepEqual(doc.notes, []);
    assert.throws(() => readYamlDocument("a: !!int abc\n"), /'abc' at line 1, column 10 is not a valid !!int value/);
  });

  test("a note for each plain scalar a YAML 1.2 reader would read differently, none for the ones it reads alike", () => {
    const doc = readYamlDocument("a: 017\nb: 1e3\nc: on\nd: 1:30\ne: 0x1A\nf: true\ng: 12\nh: 1_000\n");
    assert.deepEqual(doc.value, { a: 15, b: "1e3", c: true, d: 90, e: 26, f: true, g: 12, h: 1000 });
    assert.deepEqual(doc.notes, [
      "line 1: 017 is read as the number 15, as PyYAML (YAML 1.1) reads it; a YAML 1.2 reader gives 17 (quote it " +
      "if you mean the text)",
      "line 2: 1e3 is read as the text '1e3', as PyYAML (YAML 1.1) reads it; a YAML 1.2 reader gives 1000 (quote it " +
      "if you mean the text)",
      "line 3: on is read as the boolean true, as PyYAML (YAML 1.1) reads it; a YAML 1.2 reader gives the text " +
      "'on' (quote it if you mean the text)",
      "line 4: 1:30 is read as the number 90, as PyYAML (YAML 1.1) reads it; a YAML 1.2 reader gives the text " +
      "'1:30' (quote it if you mean the text)",
      "line 8: 1_000 is read as the number 1000, as PyYAML (YAML 1.1) reads it; a YAML 1.2 reader gives the text " +
      "'1_000' (quote it if you mean the text)",
    ]);
  });
});

describe("merge keys and duplicate keys as PyYAML reads them", () => {
  // Each document with PyYAML 6.0.3's safe_load result.
  const DOCS: Array<[string, string, unknown]> = [
    ["<<: *anchor, own keys win", "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n", {
      base: { x: 1, y: 2 },
      c: { x: 1, y: 3 },
    }],
    ["<<: [*a, *b], earlier sources win", "a: &a {x: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n", {
      a: { x: 1 },
      b: { x: 2, z: 2 },
      c: { x: 1, z: 2 },
    }],
    ["own keys win wherever the << stands", "c:\n  y: 3\n  <<: {y: 4, w: 1}\n", { c: { y: 3, w: 1 } }],
    ["a later << wins over an earlier one", "c:\n  <<: {y: 4, w: 1}\n  <<: {y: 5}\n", { c: { y: 5, w: 1 } }],
    ["a quoted '<<' is an ordinary key", "c: {'<<': {y: 4}}\n", { c: { "<<": { y: 4 } } }],
    ["merges nest", "d: &d {a: 1, <<: {b: 2}}\ne: {<<: *d, c: 3}\n", {
      d: { b: 2, a: 1 },
      e: { b: 2, a: 1, c: 3 },
    }],
    ["a duplicate key: the last wins", "a: 1\nb: 2\na: 3\n", { a: 3, b: 2 }],
    // PyYAML: [('x', 1), ('y', 2)] (tuples), and {'x': 'x'} for an anchored key.
    ["!!omap and !!pairs are lists of (key, value)", "a: !!omap [{x: 1}, {y: 2}]\n", { a: [["x", 1], ["y", 2]] }],
    ["an alias of an anchored key", "&a x: *a\n", { x: "x" }],
  ];
  for (const [what, text, expected] of DOCS) {
    test(what, () => assert.deepEqual(readYamlDocument(text).value, expected));
  }

  test("a duplicate key is noted with its line", () => {
    assert.deepEqual(readYamlDocument("x:\n  a: 1\n  a: 2\n").notes, [
      "line 3: the key 'a' appears again in the same mapping; the last value is used, as in PyYAML",
    ]);
  });

  test("a merge source that is not a mapping, a recursive alias and an undefined alias are refused", () => {
    assert.throws(() => readYamlDocument("a: &a 1\nb: {<<: *a}\n"), /merge key \(<<\).* takes a mapping/);
    assert.throws(() => readYamlDocument("a: &a [1, *a]\n"), /alias \*a at line 1, column 11 is inside the value/);
    assert.throws(() => readYamlDocument("a: *nope\n"), YamlSyntaxError);
  });

  test("merge keys do not get past the alias limit (a bomb built of merges and lists)", () => {
    const lines = ["l0: &l0 {a: [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]}"];
    for (let i = 1; i <= 7; i++) {
      const keys = Array.from({ length: 10 }, (_, k) => `k${k}: *l${i - 1}`).join(", ");
      lines.push(`l${i}: &l${i} {<<: [${Array(10).fill(`*l${i - 1}`).join(", ")}], ${keys}}`);
    }
    assert.throws(() => readYamlDocument(lines.join("\n") + "\n"), (err: Error) => {
      assert.ok(err instanceof YamlSyntaxError);
      assert.match(
        err.message,
        new RegExp(`Excessive alias count: the aliases expand to more than ${MAX_ALIAS_EXPANSION}`),
      );
      return true;
    });
    // Two levels are fine.
    const ok = readYamlDocument(lines.slice(0, 3).join("\n") + "\n").value as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(ok.l2).length, 11);
  });

  test("a __proto__ key is data, not the object's prototype", () => {
    const value = readYamlDocument("a: {__proto__: {polluted: 1}}\nb: {<<: {__proto__: 2}}\n").value as Record<
      string,
      Record<string, unknown>
    >;
    assert.deepEqual(Object.keys(value.a), ["__proto__"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(value.a), Object.prototype);
  });
});

/** A pipeline whose executors share settings through a merge key, as ContentFlow users write them. */
const MERGED = `defaults: &defaults
  chunk_size: 500
  chunk_overlap: 0
pipeline:
  name: merged
  executors:
    - id: a
      type: recursive_text_chunker
      settings:
        <<: *defaults
        chunk_size: 300
    - id: b
      type: recursive_text_chunker
      settings:
        <<: *defaults
        input_field: text
        input_field: content
  execution_sequence: [a, b]
`;

describe("pipeline documents PyYAML loads", () => {
  test("merged settings reach the executors; the duplicate key is a check warning", () => {
    const def = parsePipelineYaml(MERGED, { env: {} });
    assert.deepEqual(def.executors.map((e) => e.settings), [
      { chunk_size: 300, chunk_overlap: 0 },
      { chunk_size: 500, chunk_overlap: 0, input_field: "content" },
    ]);
    const [result] = checkPipelineYaml(MERGED, { registry: defaultRegistry(), deps, env: {} });
    assert.equal(result.valid, true, JSON.stringify(result.problems));
    assert.deepEqual(result.warnings, [
      "YAML line 17: the key 'input_field' appears again in the same mapping; the last value is used, as in PyYAML",
    ]);
  });

  test("an id PyYAML reads as a boolean or a number is named as Python's str() names it", () => {
    const yaml = "pipeline:\n  name: p\n  executors:\n    - {id: off, type: pass_through}\n" +
      "    - {id: 2, type: pass_through}\n  execution_sequence: [off, 2]\n";
    const def = parsePipelineYaml(yaml, { env: {} });
    assert.deepEqual(def.executors.map((e) => e.id), ["False", "2"]);
    const [result] = checkPipelineYaml(yaml, { registry: defaultRegistry(), deps, env: {} });
    assert.equal(result.valid, true, JSON.stringify(result.problems));
    assert.ok(
      result.warnings.some((w) => /^YAML line 4: off is read as the boolean false/.test(w)),
      result.warnings.join("\n"),
    );
  });

  test("an unknown edge type runs as sequential, with a warning", async () => {
    const yaml = `pipeline:
  name: t
  executors:
    - {id: a, type: pass_through}
    - {id: b, type: pass_through}
  edges:
    - {from: a, to: b, type: conditional}
`;
    const [result] = checkPipelineYaml(yaml, { registry: defaultRegistry(), deps, env: {} });
    assert.equal(result.valid, true, JSON.stringify(result.problems));
    assert.deepEqual(result.warnings, [
      "edges[0]: unknown edge type 'conditional' runs as sequential, as in ContentFlow (write type: sequential, " +
      "parallel or join; conditions go in the target executor's settings.condition)",
    ]);
    const p = compilePipeline(parsePipelineYaml(yaml, { env: {} }), { registry: defaultRegistry(), deps });
    assert.deepEqual(p.order, ["a", "b"]);
    // `type:` without a value is None for Python, and named so.
    const none = checkPipelineYaml(yaml.replace("type: conditional", "type: "), {
      registry: defaultRegistry(),
      deps,
      env: {},
    })[0];
    assert.equal(none.valid, true, JSON.stringify(none.problems));
    assert.match(none.warnings[0], /^edges\[0\]: unknown edge type 'None' runs as sequential/);
  });

  test("edges and sequence entries naming undefined executors are skipped with a warning; their neighbours connect", async () => {
    const edges = `pipeline:
  name: u
  executors:
    - {id: a, type: pass_through}
    - {id: c, type: pass_through}
  edges:
    - {from: a, to: ghost}
    - {from: ghost, to: c}
    - {from: a, to: [c, spook], type: parallel}
`;
    const [result] = checkPipelineYaml(edges, { registry: defaultRegistry(), deps, env: {} });
    assert.equal(result.valid, true, JSON.stringify(result.problems));
    assert.deepEqual(result.warnings, [
      "edges[0] names executor 'ghost', which the pipeline does not define; its edges are skipped, as in " +
      "ContentFlow, and the executors before it feed the ones after it (ContentFlow never ran those)",
      "edges[2] names executor 'spook', which the pipeline does not define; its edges are skipped, as in " +
      "ContentFlow, and the executors before it feed the ones after it (ContentFlow never ran those)",
    ]);
    const logged: unknown[] = [];
    const logger = new Logger();
    logger.warn = (msg: string, fields?: Record<string, unknown>) => void logged.push([msg, fields?.warning]);
    const p = compilePipeline(parsePipelineYaml(edges, { env: {} }), {
      registry: defaultRegistry(),
      deps: { config, logger },
    });
    assert.deepEqual(p.order, ["a", "c"]);
    assert.deepEqual(p.graph.preds.get("c"), ["a"]);
    assert.equal(logged.length, 2, "the worker logs each warning when it compiles the pipeline");
    const item = { id: { canonical_id: "c1", unique_id: "u1" }, data: {}, summary_data: {}, executor_logs: [] };
    const run = await runPipeline(p, [item], { signal: new AbortController().signal, logger: deps.logger });
    assert.equal(run.status, "completed", run.error);
    assert.deepEqual(
      run.events.filter((e) => e.event_type === "pipeline_warning").map((e) => e.data?.warning),
      result.warnings,
      "each warning is in the execution's events",
    );

    const sequence = edges.replace(/ {2}edges:[\s\S]*/, "  execution_sequence: [ghost, a, spook, c]\n");
    const seq = compilePipeline(parsePipelineYaml(sequence, { env: {} }), { registry: defaultRegistry(), deps });
    assert.deepEqual(seq.order, ["a", "c"]);
    assert.deepEqual(seq.graph.preds.get("c"), ["a"]);
    assert.equal(seq.warnings.length, 2);
    assert.match(
      seq.warnings[0],
      /^execution_sequence\[0\] names executor 'ghost', which the pipeline does not define/,
    );
  });
});

describe("choice settings outside their options", () => {
  const registry = defaultRegistry();

  test("where ContentFlow's executor reads an unknown value as one option, so do we (every table entry)", () => {
    for (const [type, fallbacks] of Object.entries(CHOICE_FALLBACKS)) {
      const def = registry.get(type);
      assert.ok(def, `${type} is a known executor type`);
      for (const [key, option] of Object.entries(fallbacks)) {
        const schema = def.settings as Parameters<typeof withChoiceFallbacks>[1];
        const read = withChoiceFallbacks(type, schema, { [key]: "surely-not-an-option" });
        assert.deepEqual(read.settings, { [key]: option }, `${type}.${key}`);
        assert.equal(read.warnings.length, 1);
        assert.match(read.warnings[0], new RegExp(`^setting ${key}: 'surely-not-an-option' is not one of its options`));
        // A listed option is kept as written, without a warning.
        assert.deepEqual(withChoiceFallbacks(type, schema, { [key]: option }), {
          settings: { [key]: option },
          warnings: [],
        });
      }
    }
  });

  test("through pipeline check: the unknown value is a warning, and one ContentFlow's executor refuses stays a problem", () => {
    const yaml = `pipeline:
  name: choices
  executors:
    - id: sum
      type: text_summarizer
      settings: {endpoint: "https://x.openai.azure.com/", deployment_name: d, summary_length: epic}
    - {id: chunk, type: recursive_text_chunker, settings: {length_function: bytes}}
  execution_sequence: [sum, chunk]
`;
    const [r] = checkPipelineYaml(yaml, { registry, deps, env: {} });
    assert.deepEqual(r.problems.map((p) => [p.executor, p.setting]), [["chunk", "length_function"]]);
    const fixed = checkPipelineYaml(yaml.replace("length_function: bytes", "length_function: words"), {
      registry,
      deps,
      env: {},
    })[0];
    assert.equal(fixed.valid, true, JSON.stringify(fixed.problems));
    assert.deepEqual(fixed.warnings, [
      "executor 'sum' (text_summarizer): setting summary_length: 'epic' is not one of its options; ContentFlow's " +
      "executor uses short for it, and so does this one (write summary_length: short to say so)",
    ]);
  });
});
