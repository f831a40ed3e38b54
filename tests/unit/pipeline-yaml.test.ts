// Pipeline YAML read as ContentFlow's PyYAML reads it: multi-line quoted values whose continuation lines are not
// indented past their key parse (with the value PyYAML gives), while genuinely broken quotes and alias bombs are
// still refused with a message naming the line.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { closingQuote, parseYamlDocument, YamlSyntaxError } from "../../src/pipeline/yaml.ts";
import { defaultRegistry, parsePipelineYaml, PipelineError } from "../../src/pipeline/index.ts";
import { checkPipelineYaml } from "../../src/pipeline/check.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";

configureLogging({ level: "error" });

/** The shape of ContentFlow's samples/16-spreadsheet-pipeline: `}'` closes the value at its key's indentation. */
const SPREADSHEET_SHAPE = `pipelines:
  - name: spreadsheet_data_pipeline
    executors:
      - id: field_mapper
        type: field_mapper
        settings:
          # Example mappings
          mappings: '{
            "customer_name": "name",
            "email_address": "email"
          }'
          copy_mode: move
    execution_sequence: ["field_mapper"]
`;

/** What PyYAML gives for that value: lines folded to single spaces, their leading whitespace dropped. */
const FOLDED = '{ "customer_name": "name", "email_address": "email" }';

function mappingsOf(doc: unknown): unknown {
  // deno-lint-ignore no-explicit-any
  return (doc as any).pipelines[0].executors[0].settings;
}

describe("pipeline YAML: quoted values as PyYAML reads them", () => {
  test("the spreadsheet sample's shape parses, with PyYAML's value and the keys after it intact", () => {
    const settings = mappingsOf(parseYamlDocument(SPREADSHEET_SHAPE));
    assert.deepEqual(settings, { mappings: FOLDED, copy_mode: "move" });
  });

  test("the double-quoted variant, and a closing quote at column 0, parse the same way", () => {
    const doubled = SPREADSHEET_SHAPE.replace("mappings: '{", 'mappings: "{').replace("}'", '}"')
      .replaceAll('"customer_name": "name"', '\\"customer_name\\": \\"name\\"')
      .replaceAll('"email_address": "email"', '\\"email_address\\": \\"email\\"');
    assert.deepEqual(mappingsOf(parseYamlDocument(doubled)), { mappings: FOLDED, copy_mode: "move" });
    const column0 = SPREADSHEET_SHAPE.replace("          }'", "}'").replace('            "email', '"email');
    assert.deepEqual(mappingsOf(parseYamlDocument(column0)), { mappings: FOLDED, copy_mode: "move" });
  });

  test("several under-indented values in one document, CRLF line ends, '' and \\\" escapes", () => {
    const text = "x:\r\n  a: 'it''s\r\nfine'\r\n  b: \"say \\\"hi\\\"\r\nthere\"\r\n  c: 3\r\n";
    assert.deepEqual(parseYamlDocument(text), { x: { a: "it's fine", b: 'say "hi" there', c: 3 } });
  });

  test("an empty line inside the value stays a line break; a comment may follow the closing quote", () => {
    assert.deepEqual(parseYamlDocument("x:\n  m: 'a\n\nb' # note\n  n: 1\n"), { x: { m: "a\nb", n: 1 } });
  });

  test("values the strict parser already reads are unchanged (indented continuation lines, plain text)", () => {
    const text = `x:
  m: '{
      "a": 1
    }'
  n: "two
    lines"
  o: plain
  p: 'one line'
`;
    assert.deepEqual(parseYamlDocument(text), { x: { m: '{ "a": 1 }', n: "two lines", o: "plain", p: "one line" } });
  });

  test("a quote that is never closed is an error naming the line it starts on", () => {
    const text = "pipeline:\n  name: p\n  description: 'unfinished\n  executors: []\n";
    assert.throws(() => parseYamlDocument(text), (err: Error) => {
      assert.ok(err instanceof YamlSyntaxError);
      assert.equal(err.name, "YamlSyntaxError");
      assert.match(err.message, /^Missing closing 'quote at line \d+, column \d+/);
      assert.match(err.message, /the '-quoted value that starts at line 3, column 16 is not closed/);
      return true;
    });
    // Through the pipeline parser: one line, prefixed as every YAML error is.
    assert.throws(() => parsePipelineYaml(text), (err: Error) => {
      assert.ok(err instanceof PipelineError);
      assert.match(err.message, /^pipeline YAML does not parse: Missing closing 'quote .*starts at line 3, column 16/);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  });

  test("a quote 'closed' by the next value's opening quote is not re-indented (PyYAML refuses it too)", () => {
    assert.throws(
      () => parseYamlDocument("a: 'foo\nb: 'bar'\n"),
      /the '-quoted value that starts at line 1, column 4 is not closed/,
    );
  });

  test("a document marker inside the value is refused, as PyYAML refuses it", () => {
    assert.throws(() => parseYamlDocument("m: 'a\n---\nb'\n"), YamlSyntaxError);
  });

  test("other syntax errors keep the strict parser's message", () => {
    assert.throws(() => parseYamlDocument("a: [1\nb: 2\n"), /^YamlSyntaxError: .* at line \d+, column \d+/);
  });

  test("the alias limit still holds after a repair", () => {
    // Nested aliases: each level multiplies the expanded size by ten.
    const lines = ["bomb: 'x", "y'", 'l0: &l0 ["lol"]'];
    for (let i = 1; i <= 6; i++) lines.push(`l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(", ")}]`);
    assert.throws(() => parseYamlDocument(lines.join("\n") + "\n"), (err: Error) => {
      assert.ok(err instanceof YamlSyntaxError);
      assert.match(err.message, /Excessive alias count/);
      return true;
    });
    // A few aliases are fine, in the same repaired document.
    const ok = parseYamlDocument(lines.slice(0, 4).join("\n") + "\n") as Record<string, unknown>;
    assert.equal(ok.bomb, "x y");
    assert.equal((ok.l1 as unknown[]).length, 10);
  });

  test("closingQuote scans escapes as PyYAML does", () => {
    assert.equal(closingQuote("'a''b' c", 0), 5);
    assert.equal(closingQuote('"a\\"b" c', 0), 5);
    assert.equal(closingQuote('"a\\\\" c', 0), 4);
    assert.equal(closingQuote("'never", 0), -1);
  });

  test("pipeline check reads the sample's shape and checks its executors", async () => {
    const { config } = await loadConfig({ env: {}, dotenvPath: false });
    const results = checkPipelineYaml(SPREADSHEET_SHAPE, {
      registry: defaultRegistry(),
      deps: { config, logger: new Logger() },
      env: {},
    });
    assert.deepEqual(results.map((r) => [r.pipeline, r.valid, r.problems]), [
      ["spreadsheet_data_pipeline", true, []],
    ]);
  });
});
