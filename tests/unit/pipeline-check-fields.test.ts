// pipeline check: the warning for an input field no executor before it writes (unwrittenInputWarnings, from the
// executors' dataFields declarations), and --env-file applied to ${VAR} in pipeline settings.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { rootLogger } from "../../src/log/logger.ts";
import { defaultRegistry } from "../../src/executors/registry.ts";
import { checkPipelineYaml } from "../../src/pipeline/check.ts";
import { quietLogs } from "../helpers/test-logging.ts";

declare const Deno: any;
quietLogs();
const { config } = await loadConfig({
  env: { AZURE_OPENAI_ENDPOINT: "https://x.openai.azure.com" },
  dotenvPath: false,
});
const MAIN = resolve(import.meta.dirname ?? ".", "../../src/main.ts");
const DIR = mkdtempSync(join(tmpdir(), "cfw-check-"));

/** Discovery → retriever → pdf_extractor → `steps` (YAML executor entries, in sequence). */
function pipeline(steps: string, opts: { input?: boolean } = {}): string {
  const input = opts.input === false ? "" : `
    - id: discover
      type: azure_blob_input_discovery
      settings: {blob_storage_account: acct, blob_container_name: docs}
    - id: fetch
      type: azure_blob_content_retriever`;
  const ids = [...(opts.input === false ? [] : ["discover", "fetch"]), "pdf", ...steps.matchAll(/- id: (\S+)/g)]
    .map((m) => (typeof m === "string" ? m : m[1]));
  return `pipeline:
  name: p
  executors:${input}
    - id: pdf
      type: pdf_extractor
${steps}
  execution_sequence: [${ids.join(", ")}]
`;
}

function warnings(yaml: string): string[] {
  const [r] = checkPipelineYaml(yaml, {
    registry: defaultRegistry(),
    deps: { config, logger: rootLogger },
    env: { AZURE_OPENAI_ENDPOINT: "https://x.openai.azure.com" },
  });
  assert.equal(r.valid, true, JSON.stringify(r.problems));
  return r.warnings.filter((w) => /no executor before it writes/.test(w));
}

const AGENT = (input: string) => `
    - id: agent
      type: azure_openai_agent
      settings:
        endpoint: https://x.openai.azure.com
        deployment_name: gpt
        instructions: Say hello
        input_field: ${input}`;

describe("pipeline check: input fields no executor writes", () => {
  test("a chunker reading data.text after the PDF extractor (which writes pdf_output) is warned about", () => {
    const w = warnings(pipeline(`
    - id: chunk
      type: recursive_text_chunker`));
    assert.equal(w.length, 1, w.join("\n"));
    assert.match(w[0], /executor 'chunk' \(recursive_text_chunker\): reads data\.text \(input_field\)/);
    assert.match(w[0], /data\.pdf_output/);
  });

  test("an AI executor reading data.markdown is warned about; one reading pdf_output.text is not", () => {
    assert.match(warnings(pipeline(AGENT("markdown")))[0], /'agent' \(azure_openai_agent\): reads data\.markdown/);
    assert.deepEqual(warnings(pipeline(AGENT("pdf_output.text"))), []);
  });

  test("a field written by an earlier AI step counts (its output_field)", () => {
    assert.deepEqual(
      warnings(pipeline(`${AGENT("pdf_output.text")}
        output_field: markdown
    - id: chunk
      type: recursive_text_chunker
      settings: {input_field: markdown}`)),
      [],
    );
  });

  test("no warning when a writer before it is not declared, the items come from a task, or ${VAR} names the field", () => {
    assert.deepEqual(
      warnings(pipeline(`
    - id: map
      type: field_mapper
      settings: {mappings: {title: heading}}
    - id: chunk
      type: recursive_text_chunker`)),
      [],
    );
    assert.deepEqual(
      warnings(pipeline(
        `
    - id: chunk
      type: recursive_text_chunker`,
        { input: false },
      )),
      [],
    );
    assert.deepEqual(warnings(pipeline(AGENT('"${FIELD_NAME}"'))), []);
  });
});

describe("pipeline check --env-file", () => {
  test("${VAR} in settings resolve against the variables of --env-file", () => {
    const yaml = join(DIR, "agent.yaml");
    writeFileSync(
      yaml,
      `pipeline:
  name: env
  executors:
    - id: agent
      type: azure_openai_agent
      settings:
        endpoint: "\${AZURE_OPENAI_ENDPOINT}"
        deployment_name: gpt
        instructions: Say hello
  execution_sequence: [agent]
`,
    );
    const envFile = join(DIR, "other.env");
    writeFileSync(envFile, "AZURE_OPENAI_ENDPOINT=https://from-env-file.openai.azure.com\n");
    const [command, pre] = typeof Deno !== "undefined"
      ? [Deno.execPath(), ["run", "-A", MAIN]]
      : [process.execPath, [MAIN]];
    const r = spawnSync(command, [...pre, "pipeline", "check", yaml, "--env-file", envFile], {
      cwd: DIR,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1" },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /not a URL/);
    assert.match(r.stdout, /agent\.yaml: ok/);
  });
});
