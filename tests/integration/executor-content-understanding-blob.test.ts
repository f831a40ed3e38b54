// azure_content_understanding_extractor given items straight from azure_blob_input discovery (no content retriever,
// as in three of the web UI's templates): it reads each item's blob from Azurite itself and sends those bytes to the
// local Content Understanding fake; blobs that are too large, gone or empty fail their item, naming the blob.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { AZURITE_ACCOUNT, type Emulators, startEmulators } from "../helpers/emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import { compilePipeline, defaultRegistry, parsePipelineYaml, runPipeline } from "../../src/pipeline/index.ts";
import { type FakeContentUnderstanding, startFakeContentUnderstanding } from "../helpers/fake-content-understanding.ts";

configureLogging({ level: "error" });
const logger = new Logger();
const KEY = "fake-cu-key-for-blob-tests";
const PDF = Buffer.from("%PDF-1.7\nan invoice read straight from the blob\n%%EOF\n");

let emu: Emulators;
let config: Config;
let fake: FakeContentUnderstanding;
let docs: ContainerClient;

before(async () => {
  fake = await startFakeContentUnderstanding({ key: KEY });
  emu = await startEmulators({ queue: false, cosmos: false });
  ({ config } = await loadConfig({
    env: { ...emu.env, OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost" },
    dotenvPath: false,
  }));
  docs = BlobServiceClient.fromConnectionString(emu.blobConnectionString)
    .getContainerClient(`cu-${randomUUID().slice(0, 8)}`);
  await docs.create();
  const blobs: Array<[string, Uint8Array]> = [
    ["in/invoice.pdf", PDF],
    ["big/large.pdf", new Uint8Array(1024 * 1024 + 10).fill(37)],
    ["empty/nothing.pdf", new Uint8Array()],
  ];
  for (const [name, bytes] of blobs) await docs.getBlockBlobClient(name).upload(bytes, bytes.length);
});

after(async () => {
  await emu?.stop();
  await fake?.close();
});

function reset() {
  fake.requests.length = 0;
  fake.documents.length = 0;
}

/** An item as azure_blob_input_discovery writes it: the blob's location in id, nothing in data. */
function discovered(path: string, id: Partial<Content["id"]> = {}): Content {
  return {
    id: {
      canonical_id: `https://${AZURITE_ACCOUNT}.blob.core.windows.net/${docs.containerName}/${path}`,
      unique_id: `uid-${path.replace(/\W/g, "_")}`,
      source_name: AZURITE_ACCOUNT,
      source_type: "azure_blob",
      container: docs.containerName,
      path,
      filename: path.split("/").pop(),
      ...id,
    },
    data: {},
    summary_data: {},
    executor_logs: [],
  };
}

/** The extractor of the pii-detection template, with the test's key and fast polls; failed items pass on. */
function extractorYaml(settings: Record<string, unknown> = {}, input = ""): string {
  const order = input ? "[blob-input-1, content-understanding-1]" : "[content-understanding-1]";
  const all = {
    analyzer_id: "prebuilt-layout",
    content_understanding_endpoint: fake.endpoint,
    content_understanding_subscription_key: KEY,
    content_understanding_polling_interval: 0.02,
    fail_pipeline_on_error: false,
    ...settings,
  };
  const lines = Object.entries(all).map(([k, v]) => `        ${k}: ${JSON.stringify(v)}`).join("\n");
  return `
pipeline:
  name: cu-from-blob
  executors:${input}
    - id: content-understanding-1
      type: azure_content_understanding_extractor
      settings:
${lines}
  execution_sequence: ${order}
`;
}

async function run(yaml: string, input: Content[], workerConfig = config) {
  const compiled = compilePipeline(parsePipelineYaml(yaml), {
    registry: defaultRegistry(),
    deps: { config: workerConfig, logger },
  });
  try {
    return await runPipeline(compiled, input, { signal: new AbortController().signal, logger });
  } finally {
    await compiled.close();
  }
}

function extractorLog(item: Content) {
  return item.executor_logs.find((l) => l.executor_id === "content-understanding-1")!;
}

function failure(item: Content): string {
  const log = extractorLog(item);
  assert.equal(log.status, "failed", "the extractor failed this item");
  return log.errors.join("; ");
}

describe("azure_content_understanding_extractor reads a discovered item's blob (Azurite)", () => {
  test("azure_blob_input → extractor: the blob's bytes are analysed, the answer is in the output field", async () => {
    reset();
    const discovery = `
    - id: blob-input-1
      type: azure_blob_input
      settings:
        blob_container_name: ${docs.containerName}
        prefix: in/`;
    const result = await run(extractorYaml({}, discovery), []);
    assert.equal(result.status, "completed", result.error);
    assert.equal(result.content.length, 1);
    const [item] = result.content;
    assert.equal(item.id.path, "in/invoice.pdf");
    assert.deepEqual(fake.documents, [PDF], "the fake got the blob's bytes");
    assert.equal(
      fake.requests.find((r) => r.route === "analyze")?.path,
      "/contentunderstanding/analyzers/prebuilt-layout:analyzeBinary",
    );
    const answer = item.data.content_understanding_output as { status: string; result: { contents: unknown[] } };
    assert.equal(answer.status, "Succeeded");
    assert.equal(answer.result.contents.length, 1);
    assert.equal(item.summary_data.extraction_status, "success");
    assert.equal(item.data.temp_file_path, undefined, "nothing is left in data but the answer");
    const log = extractorLog(item);
    assert.equal(log.status, "completed");
    assert.equal(log.details?.document_read_from, `blob ${docs.containerName}/in/invoice.pdf`);
  });

  test("a blob over MAX_DOCUMENT_MB (or the lower max_document_mb) fails its item, naming the blob and the limit", async () => {
    reset();
    const small = { ...config, MAX_DOCUMENT_MB: 1 };
    const [big, ok] = (await run(extractorYaml(), [discovered("big/large.pdf"), discovered("in/invoice.pdf")], small))
      .content;
    assert.equal(
      failure(big),
      `azure_content_understanding_extractor 'content-understanding-1', item ${big.id.canonical_id}: ` +
        `blob ${docs.containerName}/big/large.pdf is larger than 1048576 bytes (the limit set by MAX_DOCUMENT_MB); ` +
        "stopped reading",
    );
    assert.equal(extractorLog(ok).status, "completed", "the other item is analysed");
    assert.deepEqual(fake.documents, [PDF], "the large blob never reached the service");

    reset();
    const [limited] = (await run(extractorYaml({ max_document_mb: 1 }), [discovered("big/large.pdf")])).content;
    assert.match(failure(limited), /big\/large\.pdf is larger than 1048576 bytes \(the limit set by max_document_mb\)/);
    assert.equal(fake.documents.length, 0);
  });

  test("a blob that is gone, an empty blob and a bad account name fail their item, naming the blob", async () => {
    reset();
    const [gone, empty, badAccount] = (await run(extractorYaml(), [
      discovered("in/deleted.pdf"),
      discovered("empty/nothing.pdf"),
      discovered("in/invoice.pdf", { source_name: "evil.example#" }),
    ])).content;
    assert.match(
      failure(gone),
      new RegExp(`: blob ${docs.containerName}/in/deleted\\.pdf not found \\(BlobNotFound\\)$`),
    );
    assert.match(failure(empty), new RegExp(`: blob ${docs.containerName}/empty/nothing\\.pdf is empty$`));
    assert.match(
      failure(badAccount),
      new RegExp(`: blob ${docs.containerName}/in/invoice\\.pdf: 'evil.example#' is not a storage account name`),
    );
    assert.equal(fake.requests.filter((r) => r.route === "analyze").length, 0);
  });

  test("no document and no blob, or fetch_discovered_blob false: ContentFlow's error, word for word", async () => {
    reset();
    const prefix = (item: Content) =>
      `azure_content_understanding_extractor 'content-understanding-1', item ${item.id.canonical_id}: `;
    const notABlob = discovered("in/invoice.pdf", { source_type: "local_file" });
    const noPath = discovered("in/invoice.pdf", { path: null });
    for (const item of (await run(extractorYaml(), [notABlob, noPath])).content) {
      assert.equal(failure(item), prefix(item) + "document missing: data needs 'temp_file_path'");
    }
    const [off] = (await run(extractorYaml({ fetch_discovered_blob: false }), [discovered("in/invoice.pdf")])).content;
    assert.equal(failure(off), prefix(off) + "document missing: data needs 'temp_file_path'");
    assert.equal(fake.requests.filter((r) => r.route === "analyze").length, 0);
  });
});
