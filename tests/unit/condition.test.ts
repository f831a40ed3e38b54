import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compileCondition, ConditionError } from "../../src/pipeline/condition.ts";

const doc = {
  id: {
    canonical_id: "https://acct.blob.core.windows.net/c/invoices/a.pdf",
    filename: "a.pdf",
    path: "invoices/a.pdf",
  },
  summary_data: { pages_processed: 4 },
  data: {
    line_count: 7,
    contains_pii: true,
    title: "Hello and world",
    quote: 'it\'s "quoted"',
    tags: ["urgent", "finance"],
    lang: "en",
    x: null,
    empty_list: [],
    empty_obj: {},
    list: [1, 2, { deep: "yes" }],
    count_text: "12",
    meta: { "odd key": "v", nested: { a: 1 } },
    or: "a field named or",
  },
  executor_logs: [{ executor_id: "discover", status: "completed" }],
};

describe("condition evaluator", () => {
  const cases: Array<[string, boolean]> = [
    // ContentFlow's substring splitting got these wrong (it split on the first operator substring it found)
    ["data.line_count > 5", true],
    ["data.contains_pii == true", true],
    ["data.title == 'Hello and world'", true],
    ['data.title == "Hello and world"', true],
    ["data.title != 'Hello or world'", true],
    // comparisons
    ["data.line_count <= 5", false],
    ["data.line_count >= 7", true],
    ["data.line_count < 7.5", true],
    ["data.line_count == 7.0", true],
    ["data.line_count == '7'", false],
    ["data.count_text > 5", true],
    ["data.lang > 'a'", true],
    ["data.missing > 5", false],
    ["data.x == null", true],
    ["data.missing == none", true],
    ["data.x != null", false],
    ["summary_data.pages_processed >= 3 and id.filename ends_with '.pdf'", true],
    // membership
    ["data.lang in ['en', 'fr']", true],
    ["data.lang in ['de']", false],
    ["data.lang not_in ['en']", false],
    ["data.lang in 'english'", true],
    ["data.line_count in [1, 7]", true],
    ["data.tags contains 'urgent'", true],
    ["data.tags not_contains 'urgent'", false],
    ["data.title contains 'and'", true],
    ["data.meta contains 'nested'", true],
    ["data.title starts_with 'Hello'", true],
    ["data.missing starts_with 'None'", true], // Python's str(None), as ContentFlow compares it
    ["id.path regex_match '^invoices/'", true],
    ["id.path regex_match '\\.docx$'", false],
    // emptiness
    ["data.x is_empty", true],
    ["data.missing is_empty", true],
    ["data.empty_list is_empty", true],
    ["data.empty_obj is_empty", false], // ContentFlow: None, "" or [] only
    ["data.title is_not_empty", true],
    ["data.tags is_empty", false],
    // paths
    ["data.list[1] == 2", true],
    ["data.list.0 == 1", true],
    ["data.list[2].deep == 'yes'", true],
    ["data['lang'] starts_with 'e'", true],
    ["data.meta['odd key'] == 'v'", true],
    ["data.meta.nested.a == 1", true],
    ["data.or == 'a field named or'", true],
    ["executor_logs[0].executor_id == 'discover'", true],
    ["data.quote == 'it\\'s \"quoted\"'", true],
    // boolean structure: or binds tighter than and (as in ContentFlow); parentheses; not
    ["data.missing == 'a' or data.line_count == 7", true],
    ["data.line_count == 7 or data.missing == 'a' and data.lang == 'de'", false],
    ["data.line_count == 7 or (data.missing == 'a' and data.lang == 'de')", true],
    ["(data.line_count == 7 or data.missing == 'a') and data.lang == 'de'", false],
    ["not data.contains_pii == false", true],
    ["DATA.x is_empty".replace("DATA", "data"), true],
    ["data.lang == 'en' AND data.line_count > 1", true],
    ["((((data.lang == 'en'))))", true],
  ];
  for (const [expr, expected] of cases) {
    test(expr, () => assert.equal(compileCondition(expr).test(doc), expected));
  }

  // Syntax errors ContentFlow fails on too (malformed conditions it reads: condition-python.test.ts).
  const syntaxErrors: Array<[string, RegExp]> = [
    ["", /empty/],
    ["data.x = 1", /unexpected '='/],
    ["data.x", /ends where an operator after data.x was expected/],
    ["data.x equals 1", /expected an operator after data.x/],
    ["(data.x == 1", /ends where '\)' was expected/],
    ["data.x in 5", /in needs a list or a string/],
    ["data.x regex_match '('", /invalid regular expression/],
    ["data.x; process.exit()", /unexpected ';'/],
    ["eval('1') == 1", /expected an operator after eval/],
  ];
  for (const [expr, message] of syntaxErrors) {
    test(`syntax error: ${JSON.stringify(expr)}`, () => {
      assert.throws(() => compileCondition(expr), (err: unknown) => {
        assert.ok(err instanceof ConditionError);
        assert.match(err.message, message);
        return true;
      });
    });
  }

  test("prototype-related names are refused in every position", () => {
    for (
      const expr of [
        "data.__proto__ == 1",
        "data['__proto__'] is_empty",
        "data.constructor.name == 'Object'",
        "id.prototype is_empty",
        "data.a.constructor is_empty",
      ]
    ) {
      assert.throws(() => compileCondition(expr), /not allowed/, expr);
    }
  });

  test("inherited properties are never visible", () => {
    assert.equal(compileCondition("data.toString is_empty").test(doc), true);
    assert.equal(compileCondition("data.hasOwnProperty is_not_empty").test(doc), false);
  });

  test("oversized and deeply nested input is rejected, not evaluated", () => {
    assert.throws(() => compileCondition("data.x == '" + "a".repeat(5000) + "'"), /longer than 4000/);
    assert.throws(() => compileCondition("(".repeat(100) + "data.x == 1" + ")".repeat(100)), /nested more than 32/);
    assert.throws(() => compileCondition("not ".repeat(100) + "data.x == 1"), /nested more than 32/);
    assert.throws(() => compileCondition("data.a.b.c.d.e.f.g.h.i.j.k == 1"), /deeper than 10/);
    assert.throws(() => compileCondition(`id.path regex_match '${"a".repeat(600)}'`), /longer than 500/);
  });

  test("evaluation errors are ConditionErrors naming the types", () => {
    const c = compileCondition("data.tags > 1");
    assert.throws(
      () => c.test(doc),
      (err: unknown) => err instanceof ConditionError && /cannot compare list with number using >/.test(err.message),
    );
    assert.throws(() => compileCondition("data.lang > 1").test(doc), /cannot compare string with number/);
  });

  test("the compiled condition keeps its source", () => {
    assert.equal(compileCondition("data.x is_empty").source, "data.x is_empty");
  });
});
