// The openai SDK inside a compiled binary: tests/helpers/ai-pipeline-probe.ts is built with `bun build --compile`
// (the product's flags) and runs a pipeline of Azure OpenAI executors against the local fake of the REST contract.
// The product binary itself is built by scripts/build.mjs and holds the same modules (see the last assertion).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary, ROOT } from "../helpers/binary.ts";
import { type FakeAzureOpenAI, fakeVector, startFakeAzureOpenAI } from "../helpers/fake-azure-openai.ts";

const KEY = "probe-key-0123456789";
let fake: FakeAzureOpenAI;
before(async () => {
  fake = await startFakeAzureOpenAI({ apiKeys: [KEY], chat: () => "- The Thames flows through London." });
});
after(async () => await fake.close());

/** Runs a program without blocking this process (the fake answers from here). */
function runAsync(
  file: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: ROOT, env, timeout: 60_000, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err
        ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : null)
        : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test("a compiled binary runs text_summarizer and azure_openai_embeddings through the openai SDK", async () => {
  const bun = join(ROOT, "node_modules", ".bin", "bun");
  const out = join(ROOT, "dist", "ai-pipeline-probe");
  mkdirSync(join(ROOT, "dist"), { recursive: true });
  const build = spawnSync(bun, [
    "build",
    "--compile",
    "--minify",
    "--bytecode",
    "--format=esm",
    "tests/helpers/ai-pipeline-probe.ts",
    "--outfile",
    out,
  ], { cwd: ROOT, encoding: "utf8", timeout: 240_000 });
  assert.equal(build.status, 0, `bun build failed\n${build.stdout}\n${build.stderr}`);

  const run = await runAsync(out, [join(ROOT, "tests", "fixtures", "ai-pipeline.yaml")], {
    PATH: process.env.PATH ?? "",
    AZURE_OPENAI_ENDPOINT: fake.endpoint,
    AZURE_OPENAI_EMBEDDINGS_ENDPOINT: fake.endpoint,
    AZURE_OPENAI_ENDPOINT_API_KEY: KEY,
    OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1",
    PIPELINE_ENV_ALLOWED_VARIABLES: "*,AZURE_OPENAI_ENDPOINT_API_KEY",
  });
  assert.equal(run.code, 0, `probe failed\n${run.stdout}\n${run.stderr}`);
  const { result, usage } = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
  assert.equal(result.status, "completed", result.error);
  const item = result.content[0];
  assert.equal(item.data.summary, "- The Thames flows through London.");
  assert.deepEqual(item.data.embedding, fakeVector("The river Thames flows through London.", 4));
  assert.deepEqual(fake.requests.map((r) => r.path), [
    "/openai/deployments/gpt-4.1-mini/chat/completions",
    "/openai/deployments/text-embedding-3-large/embeddings",
  ]);
  assert.match(
    (fake.requests[0].body.messages as Array<{ content: string }>)[0].content,
    /^You are an expert text summarizer\. Provide a summary in one paragraph/,
  );
  assert.equal(usage.calls.text_summarizer, 1);
  assert.equal(usage.calls.azure_openai_embeddings, 1);

  // The product binary builds with the SDK inside (its Azure client's error text is in the bundle).
  const binary = ensureBinary();
  assert.ok(readFileSync(binary).includes("OPENAI_API_VERSION environment variable is missing"));
});
