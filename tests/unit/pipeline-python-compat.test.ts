// Pipeline documents ContentFlow's Python library runs give the same result here, or are refused at compile time
// with a message that says how to write them: unset ${VAR} stays literal, the web UI's `azure_blob_input` type,
// several entry executors (unknown edge types and undefined ids: tests/unit/pipeline-pyyaml.test.ts).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import {
  compilePipeline,
  defaultRegistry,
  findInputExecutor,
  parsePipelineYaml,
  PipelineError,
  runPipeline,
} from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { ExecutorDefinition } from "../../src/executors/types.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: { BLOB_STORAGE_ACCOUNT_NAME: "acct" }, dotenvPath: false });
const deps = { config, logger: new Logger() };

/** A test executor that writes its `text` setting into data.text, to see what a setting resolved to. */
function registryWithEcho() {
  const settings = v.object({ text: v.string() });
  const echo: ExecutorDefinition<typeof settings> = {
    type: "echo",
    category: "transform",
    description: "test: data.text = settings.text",
    settings,
    create: (id, s) => ({
      id,
      type: "echo",
      process: async (input) => input.map((c) => ({ ...c, data: { ...c.data, text: s.text } })),
    }),
  };
  return defaultRegistry().register(echo as unknown as ExecutorDefinition);
}

const item = { id: { canonical_id: "c1", unique_id: "u1" }, data: {}, summary_data: {}, executor_logs: [] };

describe("pipeline documents as ContentFlow runs them", () => {
  test("an unset ${VAR} stays the literal text, with a compile warning", async () => {
    const yaml = `pipeline:
  name: env
  executors:
    - {id: e, type: echo, settings: {text: "\${CFW_TEST_SURELY_UNSET}"}}
`;
    const p = compilePipeline(parsePipelineYaml(yaml, { env: {} }), { registry: registryWithEcho(), deps });
    assert.ok(
      p.warnings.some((w) =>
        w.includes("executor 'e' (echo): settings.text: environment variable CFW_TEST_SURELY_UNSET is not set") &&
        w.includes("'${CFW_TEST_SURELY_UNSET}' is used as it is")
      ),
      p.warnings.join("\n"),
    );
    const r = await runPipeline(p, [item], { signal: new AbortController().signal, logger: deps.logger });
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content[0].data?.text, "${CFW_TEST_SURELY_UNSET}");
    const set = compilePipeline(parsePipelineYaml(yaml, { env: { CFW_TEST_SURELY_UNSET: "hello" } }), {
      registry: registryWithEcho(),
      deps,
    });
    assert.deepEqual(set.warnings, []);
  });

  test("the web UI's azure_blob_input is the blob discovery executor", () => {
    const yaml = `pipeline:
  name: ui
  executors:
    - id: blob-input-1
      type: azure_blob_input
      settings: {blob_container_name: docs}
    - {id: pt, type: pass_through}
  edges:
    - {from: blob-input-1, to: pt, type: sequential}
`;
    const def = parsePipelineYaml(yaml, { env: {} });
    const registry = defaultRegistry();
    assert.equal(findInputExecutor(def, registry)?.id, "blob-input-1", "it is the pipeline's input executor");
    const p = compilePipeline(def, { registry, deps });
    assert.equal(p.nodes.get("blob-input-1")?.instance.type, "azure_blob_input_discovery");
    assert.ok(!registry.list().some((d) => d.type === "azure_blob_input"), "an alias, not a second type");
  });

  const refused: Array<[string, string, RegExp]> = [
    [
      "several entry executors (ContentFlow started at one of them arbitrarily)",
      "  edges:\n    - {from: a, to: c}\n    - {from: b, to: c}\n",
      /several entry executors \(a, b\).*connect them so that exactly one executor has no incoming edge/,
    ],
  ];
  for (const [what, edges, message] of refused) {
    test(`refused with how to write it: ${what}`, () => {
      const yaml = `pipeline:
  name: r
  executors:
    - {id: a, type: pass_through}
    - {id: b, type: pass_through}
    - {id: c, type: pass_through}
${edges}`;
      assert.throws(
        () => compilePipeline(parsePipelineYaml(yaml, { env: {} }), { registry: defaultRegistry(), deps }),
        (
          err: unknown,
        ) => {
          assert.ok(err instanceof PipelineError);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});
