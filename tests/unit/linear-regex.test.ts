// The linear-time regex home (src/util/linear-regex.ts): shell-style globs read as Python's fnmatch reads them, with
// no way for a pattern to smuggle regex syntax in; web_scraper's star patterns; and patterns that a backtracking
// engine would take hours over (a test that hangs instead of passing means a backtracking engine came back).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  globPattern,
  linearRegex,
  MAX_PATTERN_LENGTH,
  RegexSyntaxError,
  starPattern,
} from "../../src/util/linear-regex.ts";
import { selectFields } from "../../src/executors/builtin/field-selector.ts";
import { compileCondition } from "../../src/pipeline/condition.ts";
import { inferType } from "../../src/executors/csv.ts";
import { documentBytes } from "../../src/executors/documents/source.ts";
import { truncateUtf8 } from "../../src/executors/builtin/gptrag-search-index-document-generator.ts";
import type { Content } from "../../src/model/content.ts";
import { runPoison } from "../../src/cli/poison-command.ts";

describe("globPattern (Python's fnmatch.fnmatchcase)", () => {
  // Expected values from CPython 3.11's fnmatch.fnmatchcase(text, pattern).
  const table: Array<[string, Array<[string, boolean]>]> = [
    // Regex syntax is literal: the character class closes where fnmatch closes it, nothing else is special.
    ["[]|(.*a){10}]", [["|", true], ["]", true], ["(", true], ["a", true], ["aaaaaaaaaa", false], ["", false]]],
    ["(.*a){10}", [["(.*a){10}", true], ["aaaaaaaaaa", false], ["(xa){10}", false]]],
    ["a|b", [["a|b", true], ["a", false], ["b", false]]],
    ["meta.*", [["meta.a", true], ["meta", false], ["metaXa", false], ["meta.\n", true]]],
    ["a\\*b", [["a\\xb", true], ["a\\b", true], ["a*b", false]]],
    ["\\d+", [["\\d+", true], ["1", false], ["\\ddd", false]]],
    ["[\\d]", [["\\", true], ["d", true], ["1", false]]],
    ["^x$", [["^x$", true], ["x", false]]],
    ["x{2}", [["x{2}", true], ["xx", false]]],
    ["(?i)A", [["(?i)A", true], ["a", false], ["A", false]]],
    ["\\x{41}", [["\\x{41}", true], ["A", false]]],
    ["[a&&b]", [["&", true], ["a", true], ["c", false]]],
    ["[a||b]", [["|", true], ["b", true]]],
    ["[x\\]", [["\\", true], ["x", true], ["]", false]]],
    // fnmatch's brackets: negation, ] first, ranges, hyphens at the ends, reversed ranges, unclosed [.
    ["[^a]", [["^", true], ["a", true], ["b", false]]],
    ["[!a]", [["b", true], ["a", false], ["\n", true], ["!", true]]],
    ["[!]", [["[!]", true], ["!", false]]],
    ["[]]", [["]", true], ["a", false]]],
    ["[!]]", [["]", false], ["a", true]]],
    ["[a-c]", [["b", true], ["-", false], ["d", false]]],
    ["[-a]", [["-", true], ["a", true], ["b", false]]],
    ["[a-]", [["-", true], ["a", true], ["b", false]]],
    ["[a-c-e]", [["b", true], ["-", true], ["e", true], ["d", false]]],
    ["[z-a]", [["a", false], ["z", false], ["m", false], ["-", false]]],
    ["[!z-a]", [["a", true], ["z", true], ["\n", true]]],
    ["[z-a!x]", [["x", false], ["!", true], ["y", true]]],
    ["[[]", [["[", true]]],
    ["[", [["[", true], ["", false]]],
    ["a[b", [["a[b", true], ["ab", false]]],
    // Wildcards.
    ["?", [["a", true], ["\n", true], ["", false], ["ab", false]]],
    ["**a", [["a", true], ["ba", true]]],
    ["é*ü", [["éxü", true], ["eu", false]]],
    ["[é-ü]", [["ó", true], ["e", false]]],
    ["😀?", [["😀x", true], ["😀", false], ["😀😀", true]]],
  ];
  for (const [pattern, cases] of table) {
    test(`${JSON.stringify(pattern)}`, () => {
      const glob = globPattern(pattern);
      for (const [text, expected] of cases) {
        assert.equal(glob.matchesWhole(text), expected, `${JSON.stringify(pattern)} on ${JSON.stringify(text)}`);
      }
    });
  }

  test("nested stars against a long near-miss finish (exponential on a backtracking engine)", () => {
    const glob = globPattern("*a*a*a*a*a*a*a*a*b");
    assert.equal(glob.matchesWhole("a".repeat(50_000)), false);
    assert.equal(glob.matchesWhole("a".repeat(50_000) + "b"), true);
  });
});

describe("starPattern (web_scraper link_patterns)", () => {
  test("* matches any run, everything else is literal, the whole URL must match", () => {
    const p = starPattern("https://docs.example.com/*/guide?.html");
    assert.equal(p.matchesWhole("https://docs.example.com/v1/guide?.html"), true);
    assert.equal(p.matchesWhole("https://docs.example.com/v1/guideX.html"), false, "? is literal");
    assert.equal(p.matchesWhole("https://docsXexample.com/v1/guide?.html"), false, ". is literal");
    assert.equal(p.matchesWhole("https://docs.example.com/v1/guide?.html#x"), false);
    assert.equal(starPattern("https://a/(x|y)[1]").matchesWhole("https://a/(x|y)[1]"), true);
    assert.equal(starPattern("https://a/(x|y)").matchesWhole("https://a/x"), false);
  });

  test("a 2 KB and a 50 KB hostile link against a nested-star pattern finish", () => {
    const p = starPattern("https://docs.example.com/*/*/*/*.html");
    for (const size of [2_000, 50_000]) {
      const link = "https://docs.example.com/" + "/".repeat(size) + "x";
      assert.equal(p.matchesWhole(link), false);
      assert.equal(p.matchesWhole(link + ".html"), true);
    }
  });
});

describe("linearRegex", () => {
  test("RE2 syntax, case-insensitive on request, partial and whole matches", () => {
    const r = linearRegex("timed? out", { caseInsensitive: true });
    assert.equal(r.test("Task TIMED OUT after 30 s"), true);
    assert.equal(r.matchesWhole("Task TIMED OUT after 30 s"), false);
    assert.equal(linearRegex("^(a+)+$").test("a".repeat(50_000) + "!"), false);
  });

  test("a pattern that does not compile or is too long throws RegexSyntaxError", () => {
    assert.throws(() => linearRegex("(a"), RegexSyntaxError);
    assert.throws(() => linearRegex("(?=a)"), RegexSyntaxError);
    assert.throws(() => linearRegex("a".repeat(MAX_PATTERN_LENGTH + 1)), /at most 8192/);
    assert.throws(() => globPattern("*".repeat(MAX_PATTERN_LENGTH + 1)), RegexSyntaxError);
  });
});

describe("poison requeue --reason", () => {
  test("is an RE2 pattern: lookahead is refused before anything is opened", async () => {
    const io = {
      loadConfig: () => Promise.reject(new Error("the configuration was loaded")),
      stdout: () => {},
      confirm: () => Promise.resolve(false),
      interactive: false,
    };
    await assert.rejects(
      runPoison(["requeue", "--reason", "(?=timed out)"], io),
      /--reason is not a valid regular expression/,
    );
    await assert.rejects(runPoison(["requeue", "--reason", "timed? out"], io), /the configuration was loaded/);
  });
});

describe("field_selector patterns", () => {
  const base = {
    mode: "include" as const,
    nested_delimiter: ".",
    preserve_structure: false,
    conditional_selection: false,
    condition_operator: "equals" as const,
    keep_id_fields: false,
    fail_on_missing_field: false,
    add_selection_metadata: false,
  };

  test("a pattern cannot inject regex syntax: []|(.*a){10}] is one bracket expression and a literal tail", () => {
    const data = { "|(.*a){10}]x": 1, a1: 2, b1: 3, aaaaaaaaaa: 4, "aaaaaaaaaa]": 5 };
    const r = selectFields({ ...base, fields: ["[]|(.*a){10}]?"] }, data);
    assert.deepEqual(r.data, { a1: 2 }, "two characters, the first one of ]|(.*a){10}");
    const one = selectFields({ ...base, fields: ["[]|(.*a){10}]"] }, { "]": 1, a: 2, b: 3, aaaaaaaaaa: 4 });
    assert.deepEqual(one.data, { "]": 1, a: 2 }, "one character of ]|(.*a){10}");
    const exact = selectFields({ ...base, fields: ["[ab]"] }, { "[ab]": 1, a: 2 });
    assert.deepEqual(exact.data, { "[ab]": 1 }, "without * or ? a pattern is an exact name (ContentFlow)");
    const star = selectFields({ ...base, fields: ["[]|(.*a){10}]*"] }, { "]x": 1, a: 2, b: 3, aaaaaaaaaa: 4 });
    assert.deepEqual(star.data, { "]x": 1, a: 2, aaaaaaaaaa: 4 });
  });

  test("a long hostile field name against nested stars is matched in linear time", () => {
    const name = "a".repeat(20_000);
    const r = selectFields({ ...base, fields: ["*a*a*a*a*a*a*a*a*b"] }, { [name]: 1, ok: 2 });
    assert.deepEqual(r.data, {});
  });
});

describe("fixed patterns over content refuse long near-misses in linear time", () => {
  // 1 MB: with the ambiguous patterns these took about 20 minutes each (quadratic), far past any test timeout.
  const digits = "1".repeat(1_000_000) + "x";

  test("a condition comparing a long digit string with a number", () => {
    assert.throws(() => compileCondition("data.v > 5").test({ data: { v: digits } }), /cannot compare string/);
    assert.equal(compileCondition("data.v > 5").test({ data: { v: " 12.5e0 " } }), true);
  });

  test("a CSV cell of digits", () => {
    assert.equal(inferType(digits), digits);
    assert.equal(inferType("1."), 1);
    assert.equal(inferType("-.5e3"), -500);
  });

  test("document content of line breaks is not base64", async () => {
    const item = (content: string): Content => ({
      id: { canonical_id: "d", unique_id: "d" },
      data: { content },
      summary_data: {},
      executor_logs: [],
    });
    const opts = { contentField: "content", tempFileField: "temp_file_path", maxBytes: 1 << 20, kind: "PDF" };
    await assert.rejects(documentBytes(item("\n".repeat(1_000_000) + "!"), opts), /missing required content/);
    const ok = await documentBytes(item("QUJD\r\nREVGRw==\n  \n"), opts);
    assert.equal(Buffer.from(ok.bytes).toString("latin1"), "ABCDEFG");
  });

  test("text cut to a byte limit over a long run of replacement characters", () => {
    const run = "\uFFFD".repeat(1_000_000);
    assert.equal(truncateUtf8(run + "ab", 3_000_001), run + "a");
    assert.equal(truncateUtf8("ab€", 3), "ab");
    assert.equal(truncateUtf8("a\uFFFD€", 5), "a");
  });
});
