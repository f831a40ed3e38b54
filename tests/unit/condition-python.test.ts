// Conditions give ContentFlow's result on every condition ContentFlow evaluates (contentflow-lib
// utils/secure_condition_evaluator.py): it splits on " and " before " or ", so `or` binds tighter; it reads any
// top-level field of the item. regex_match runs on RE2, so a catastrophic pattern cannot block the worker.
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
