// The differential suite (docs/pipelines.md, "Differential suite"): every case of scripts/differential/corpus.ts
// runs through our engine and must give ContentFlow's output recorded in tests/fixtures/differential/goldens.jsonl
// (by scripts/differential/record.ts, from the Python library). A case whose difference is accepted must give the
// output recorded for ours, so that any new difference fails here.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCorpus } from "../../scripts/differential/corpus.ts";
import { withDocumentPaths, writeDocuments } from "../helpers/differential-documents.ts";
import { canonicalJson, normaliseOutcome, type Outcome, runOurs } from "../../scripts/differential/compare.ts";
import { acceptedDifference } from "../../scripts/differential/accepted.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";

interface Golden {
  python?: Outcome;
  accepted_difference?: string;
  ours?: Outcome;
  differing?: boolean;
  skipped?: string;
}

// JSON Lines: a header ({contentflow_commit, python, pydantic, counts}), then one case per line ({name, …}).
const [head, ...lines] = readFileSync(new URL("../fixtures/differential/goldens.jsonl", import.meta.url), "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line));
const goldens: Record<string, Golden> = Object.fromEntries(lines.map(({ name, ...g }) => [name, g]));

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const logger = new Logger();
const cases = buildCorpus();
const dir = mkdtempSync(join(tmpdir(), "differential-test-"));
const docPaths = await writeDocuments(dir);

describe(`differential suite against ContentFlow ${head.contentflow_commit}`, () => {
  test("the goldens hold every case of the corpus and no other", () => {
    assert.deepEqual(Object.keys(goldens).sort(), cases.map((c) => c.name).sort());
  });

  test("every recorded difference is accepted, with the reason accepted.ts gives today", () => {
    const open = Object.entries(goldens).filter(([, g]) => g.differing).map(([name]) => name);
    assert.deepEqual(open, []);
    for (const [name, g] of Object.entries(goldens)) {
      if (g.accepted_difference) assert.equal(g.accepted_difference, acceptedDifference(name), name);
    }
  });

  for (const c of cases) {
    const golden = goldens[c.name];
    test(c.name, { skip: golden?.skipped }, async () => {
      assert.ok(golden, `no golden for ${c.name}: run scripts/differential/record.ts`);
      const ours = JSON.parse(canonicalJson(normaliseOutcome(
        await runOurs(withDocumentPaths(c, docPaths), { config, logger }, logger),
        docPaths,
      )));
      if (golden.accepted_difference) {
        assert.notDeepEqual(ours, golden.python, `${c.name} now gives ContentFlow's output: record the goldens again`);
        assert.deepEqual(ours, golden.ours, golden.accepted_difference);
      } else {
        assert.deepEqual(ours, golden.python);
      }
    });
  }

  test("clean up the documents", () => rmSync(dir, { recursive: true, force: true }));
});
