// The document libraries inside the compiled binary: a vault whose pipeline retrieves PDF, Word, PowerPoint and
// Excel blobs and extracts them runs through `worker --role=source --once` and `worker --role=processing`, and the
// execution record (save_execution_output) holds what pdf.js, the ZIP reader and the XML parser extracted.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CosmosClient, type Database } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../../scripts/lib/emulators.ts";
import { ensureCosmosContainers } from "../../src/store/cosmos.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { ensureBinary } from "../helpers/binary.ts";
import { uploadBlobs } from "../integration/source-test-kit.ts";
import { makeDocx, makePdf, makePptx, makeXlsx } from "../helpers/documents.ts";

const PIPELINE = `pipeline:
  name: documents-in-binary
  executors:
    - id: discover
      type: azure_blob_input_discovery
      settings: {blob_storage_account: devstoreaccount1, blob_container_name: docs-binary, batch_size: 10}
    - {id: get, type: content_retriever, settings: {blob_storage_account: devstoreaccount1}}
    - {id: pdf, type: pdf_extractor, settings: {condition: "id.filename ends_with '.pdf'"}}
    - {id: word, type: word_extractor, settings: {condition: "id.filename ends_with '.docx'"}}
    - {id: slides, type: powerpoint_extractor, settings: {condition: "id.filename ends_with '.pptx'"}}
    - {id: excel, type: excel_extractor, settings: {condition: "id.filename ends_with '.xlsx'"}}
  execution_sequence: [discover, get, pdf, word, slides, excel]
`;

describe("compiled binary: document extraction", () => {
  let emu: Emulators;
  let binary: string;
  let config: Config;
  let db: Database;
  let env: Record<string, string>;
  const cwd = mkdtempSync(join(tmpdir(), "cfw-docs-binary-"));

  before(async () => {
    binary = ensureBinary();
    emu = await startEmulators();
    env = { PATH: process.env.PATH ?? "", ...emu.env, STORAGE_WORKER_QUEUE_NAME: "docs-binary", LOG_LEVEL: "warning" };
    config = (await loadConfig({ env, dotenvPath: false })).config;
    const cosmos = new CosmosClient({
      endpoint: emu.cosmosEndpoint,
      key: emu.env.COSMOS_DB_KEY,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    await ensureCosmosContainers(cosmos, config);
    db = cosmos.database(config.COSMOS_DB_NAME);
    await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.upsert({
      id: "pipe-docs",
      name: "documents-in-binary",
      yaml: PIPELINE,
    });
    await db.container(config.COSMOS_DB_CONTAINER_VAULTS).items.upsert({
      id: "vault-docs",
      name: "docs",
      pipeline_id: "pipe-docs",
      enabled: true,
      save_execution_output: true,
    });
    await uploadBlobs(emu, "docs-binary", [
      { name: "a.pdf", body: await makePdf() },
      { name: "b.docx", body: await makeDocx() },
      { name: "c.pptx", body: await makePptx() },
      { name: "d.xlsx", body: await makeXlsx() },
    ]);
  });

  after(async () => {
    await emu?.stop();
  });

  function start(args: string[], timeoutMs: number) {
    const child = spawn(binary, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const finished = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        process.kill(child.pid!, "SIGKILL");
        reject(new Error(`${args.join(" ")} did not finish in ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      child.once("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
    return { pid: child.pid!, finished };
  }

  const executions = async () =>
    (await db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.query({
      query: "SELECT * FROM c WHERE c.vault_id = @v",
      parameters: [{ name: "@v", value: "vault-docs" }],
    }).fetchAll()).resources;

  test("PDF, Word, PowerPoint and Excel blobs are extracted by the binary", async () => {
    const crawl = await start(["worker", "--role=source", "--once"], 60_000).finished;
    assert.equal(crawl.code, 0, crawl.output);
    assert.match(crawl.output, /^items discovered: 4$/m);
    const processing = start(["worker", "--role=processing"], 120_000);
    let done: Record<string, any> | undefined;
    for (let i = 0; i < 400 && !done; i++) {
      const [record] = await executions();
      if (record && (record.status === "completed" || record.status === "failed")) done = record;
      else await new Promise((r) => setTimeout(r, 250));
    }
    process.kill(processing.pid, "SIGTERM");
    const exit = await processing.finished;
    assert.ok(done, `the execution finished\n${exit.output}`);
    assert.equal(done.status, "completed", JSON.stringify(done.error ?? done, null, 1));
    const byName = Object.fromEntries(done.content.map((c: any) => [c.id.filename, c]));
    const failed = done.content.flatMap((c: any) => c.executor_logs.filter((l: any) => l.status === "failed"));
    assert.deepEqual(failed, [], "no item failed");
    assert.equal(byName["a.pdf"].data.pdf_output.pages.length, 3);
    assert.match(byName["a.pdf"].data.pdf_output.text, /^Page 1 heading\nBody text on page 1\./);
    assert.equal(byName["b.docx"].data.word_output.paragraphs[0].text, "Quarterly Report");
    assert.deepEqual(byName["b.docx"].data.word_output.tables[0].data[0], ["Region", "Q1", "Q2"]);
    assert.equal(byName["c.pptx"].data.pptx_output.slides[1].tables[0].data[1][0], "Ann");
    assert.equal(byName["d.xlsx"].data.excel_output.sheets[0].sheet_name, "Sales");
    assert.equal(byName["d.xlsx"].summary_data.extraction_status, "success");
  });
});
