// Conditions give ContentFlow's result on every condition ContentFlow evaluates (contentflow-lib
// utils/secure_condition_evaluator.py): it splits on " and " before " or ", so `or` binds tighter; it reads any
// top-level field of the item. regex_match runs on RE2, so a catastrophic pattern cannot block the worker. A condition
// our grammar refuses but ContentFlow reads is evaluated as ContentFlow reads it, with a warning; text comparisons
// of non-strings use Python's str(); is_empty is ContentFlow's test.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compileCondition, ConditionError } from "../../src/pipeline/condition.ts";

const item = {
  id: { canonical_id: "c1", unique_id: "u1", filename: "report.pdf" },
  data: { lang: "en", pages: 3, text: "a".repeat(40) + "!" },
  summary_data: {},
  executor_logs: [],
  metadata: { type: "invoice", "odd key": 1 },
};

describe("conditions as ContentFlow evaluates them", () => {
  // Each row: the condition, ContentFlow's result on `item` (worked out by its rule: AND of OR groups).
  const mixed: Array<[string, boolean]> = [
    // `and` binding tighter: true or (false and false) → true; ContentFlow: (true or false) and false → false.
    ["data.lang == 'en' or data.pages == 9 and data.lang == 'fr'", false],
    // `and` binding tighter: (false and true) or true → true; ContentFlow: false and (true or true) → false.
    ["data.lang == 'de' and data.pages == 3 or data.lang == 'en'", false],
    // ContentFlow: true and (false or true) → true; `and` binding tighter: (true and false) or true → true.
    ["data.lang == 'en' and data.pages == 9 or data.pages == 3", true],
  ];
  for (const [expr, expected] of mixed) {
    test(`mixed and/or: ${expr}`, () => {
      const c = compileCondition(expr);
      assert.equal(c.test(item), expected);
      assert.equal(c.warnings.length, 1);
      assert.match(c.warnings[0], /mixes 'and' and 'or' without parentheses; as in ContentFlow, 'or' binds tighter/);
      assert.match(c.warnings[0], /add parentheses/);
    });
  }

  test("no warning for a single kind of chain or when parentheses say it", () => {
    for (
      const expr of [
        "data.lang == 'en' and data.pages == 3",
        "data.lang == 'de' or data.pages == 3",
        "(data.lang == 'en' or data.pages == 9) and data.pages == 3",
        "data.lang == 'en' or (data.pages == 9 and data.lang == 'fr')",
      ]
    ) assert.deepEqual(compileCondition(expr).warnings, [], expr);
    assert.equal(compileCondition("data.lang == 'en' or (data.pages == 9 and data.lang == 'fr')").test(item), true);
  });

  test("any top-level field can be read, as ContentFlow reads the item's dump", () => {
    assert.equal(compileCondition("metadata['type'] == 'invoice'").test(item), true);
    assert.equal(compileCondition("metadata.type == 'receipt'").test(item), false);
    assert.equal(compileCondition("metadata['odd key'] >= 1").test(item), true);
    assert.equal(compileCondition("nothing.here is_empty").test(item), true, "a missing root is null");
    assert.throws(() => compileCondition("constructor.name == 'Object'"), /not allowed/);
    assert.throws(() => compileCondition("__proto__ is_empty"), /not allowed/);
  });
});

describe("regex_match on a linear-time engine", () => {
  test("a catastrophic pattern on a long input returns instead of backtracking for ever", () => {
    // With a backtracking engine, (a+)+$ against 40 a's and a '!' takes about 2^40 steps.
    assert.equal(compileCondition("data.text regex_match '(a+)+$'").test(item), false);
    const long = { data: { text: "a".repeat(100_000) + "!" } };
    assert.equal(compileCondition("data.text regex_match '^(a|aa)+$'").test(long), false);
    assert.equal(compileCondition("data.text regex_match '(a+)+!'").test(long), true);
  });

  test("search semantics as Python's re.search, including (?P<name>…) groups", () => {
    assert.equal(compileCondition("id.filename regex_match 'port\\\\.pdf$'").test(item), true);
    assert.equal(compileCondition("id.filename regex_match '^port'").test(item), false);
    assert.equal(compileCondition("id.filename regex_match '(?P<stem>\\\\w+)\\\\.pdf'").test(item), true);
  });

  test("backreferences and lookaround are refused at compile time, saying why", () => {
    for (const pattern of ["(a)\\\\1", "(?=a)b", "(?<!x)y"]) {
      assert.throws(() => compileCondition(`data.text regex_match '${pattern}'`), (err: unknown) => {
        assert.ok(err instanceof ConditionError);
        assert.match(err.message, /invalid regular expression/);
        assert.match(err.message, /RE2 syntax, which has no backreferences or lookaround/);
        return true;
      });
    }
  });
});

describe("malformed conditions ContentFlow reads are evaluated as it reads them, with a warning", () => {
  // Each row: the condition, ContentFlow's reading of it (its split on operator substrings; a value it cannot read
  // is text), and the result on `item` (data.lang is 'en'), as contentflow-lib's SecureConditionEvaluator gave it.
  const malformed: Array<[string, string, boolean]> = [
    ["data.lang == 'en' and", `data.lang == "'en' and"`, false],
    ["data.lang == 'en", `data.lang == "'en"`, false],
    ["data.lang ===", `data.lang == "="`, false],
    ["data.lang == en data.pages == 3", `data.lang == "en data.pages == 3"`, false],
    ["data.lang == `en`", 'data.lang == "`en`"', false],
    // The value is the text "['en', 'fr'" and `in` a substring test: 'en' is in it.
    ["data.lang in ['en', 'fr'", `data.lang in "['en', 'fr'"`, true],
    ["data.pages == 3 and data.lang == 'en", `data.pages == 3 and data.lang == "'en"`, false],
    ["data.pages == 3 or data.lang == 'en", `data.pages == 3 or data.lang == "'en"`, true],
  ];
  for (const [expr, reading, expected] of malformed) {
    test(expr, () => {
      const c = compileCondition(expr);
      assert.equal(c.test(item), expected);
      assert.equal(c.warnings.length, 1);
      assert.match(c.warnings[0], /^condition '.*' is malformed \(.*\); it is evaluated as ContentFlow reads it, /);
      assert.ok(c.warnings[0].includes(`reads it, ${reading}, which is probably not what you mean`), c.warnings[0]);
    });
  }

  test("what ContentFlow fails on is still refused at compile time", () => {
    for (
      const expr of [
        "data.lang = 'en'", // no operator
        "(data.lang == 'en'", // '(data' is not a field name
        "data.x in 5", // `in` an int: a TypeError on every item
        "data.x; rm", // semicolons
        "data.text regex_match '(a)\\1' and", // our RE2 limit holds in ContentFlow's reading too
      ]
    ) {
      assert.throws(() => compileCondition(expr), ConditionError, expr);
    }
  });

  test("a pipeline with a malformed condition compiles, and pipeline check says so", async () => {
    const { checkPipelineYaml } = await import("../../src/pipeline/check.ts");
    const { defaultRegistry } = await import("../../src/pipeline/index.ts");
    const { loadConfig } = await import("../../src/config/load.ts");
    const { Logger } = await import("../../src/log/logger.ts");
    const { config } = await loadConfig({ env: {}, dotenvPath: false });
    const yaml = `pipeline:
  name: m
  executors:
    - {id: a, type: pass_through, settings: {condition: "data.lang == 'en' and"}}
`;
    const [r] = checkPipelineYaml(yaml, {
      registry: defaultRegistry(),
      deps: { config, logger: new Logger() },
      env: {},
    });
    assert.equal(r.valid, true, JSON.stringify(r.problems));
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /^executor 'a' \(pass_through\): condition 'data.lang == 'en' and' is malformed/);
  });
});

describe("Python's semantics in comparisons", () => {
  const doc = {
    data: { flag: true, tags: ["urgent", "x"], meta: { k: null, n: 1.5 }, count: 7, empty_obj: {}, empty_list: [] },
  };
  // ContentFlow's results (from its SecureConditionEvaluator): str(None) = 'None', str(True) = 'True', str(['urgent', 'x']) = "['urgent', 'x']",
  // str({'k': None, 'n': 1.5}) = "{'k': None, 'n': 1.5}"; is_empty is `is None or == "" or == []`.
  const cases: Array<[string, boolean]> = [
    ["data.missing starts_with 'No'", true],
    ["data.missing ends_with 'one'", true],
    ["data.missing regex_match '^None$'", true],
    ["data.flag starts_with 'Tr'", true],
    ["data.flag == true", true],
    ["data.tags starts_with \"['urgent', \"", true],
    ["data.meta ends_with \"'n': 1.5}\"", true],
    ["data.meta regex_match \"^\\{'k': None\"", true],
    ["data.count ends_with '7'", true],
    ["data.empty_obj is_empty", false],
    ["data.empty_obj is_not_empty", true],
    ["data.empty_list is_empty", true],
    ["data.missing is_empty", true],
  ];
  for (const [expr, expected] of cases) {
    test(expr, () => assert.equal(compileCondition(expr).test(doc), expected));
  }
});
