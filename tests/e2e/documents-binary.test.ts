// The document libraries inside the compiled binary: a vault whose pipeline retrieves PDF, Word, PowerPoint and
// Excel blobs and extracts them runs through `worker --role=source --once` and `worker --role=processing`, and the
// execution record (save_execution_output) holds what pdf.js, the ZIP reader and the XML parser extracted.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { createVault, executionRecordsOfVault, upsertPipeline } from "../helpers/seeded-store.ts";
import { uploadBlobs } from "../helpers/source-kit.ts";
import { makeDocx, makePdf, makePptx, makeXlsx } from "../helpers/documents.ts";
import { type E2eEnv, e2eEnv, until } from "../helpers/e2e-kit.ts";

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
  let e: E2eEnv;

  before(async () => {
    e = await e2eEnv({ STORAGE_WORKER_QUEUE_NAME: "docs-binary" });
    await upsertPipeline(e.store, "pipe-docs", PIPELINE);
    await createVault(e.store, "vault-docs", { pipelineId: "pipe-docs", saveExecutionOutput: true });
    await uploadBlobs(e.emu, "docs-binary", [
      { name: "a.pdf", body: await makePdf() },
      { name: "b.docx", body: await makeDocx() },
      { name: "c.pptx", body: await makePptx() },
      { name: "d.xlsx", body: await makeXlsx() },
    ]);
  });

  after(async () => {
    await e?.stop();
  });

  test("PDF, Word, PowerPoint and Excel blobs are extracted by the binary", async () => {
    const crawl = await e.run(["worker", "--role=source", "--once"], { timeoutMs: 60_000 });
    assert.equal(crawl.code, 0, crawl.output);
    assert.match(crawl.output, /^items discovered: 4$/m);
    const processing = e.start(["worker", "--role=processing"], { timeoutMs: 120_000 });
    const done = await until("the execution finished", async () => {
      const [record] = await executionRecordsOfVault(e.store, "vault-docs");
      return record && (record.status === "completed" || record.status === "failed") ? record : undefined;
    }, 100_000).catch(() => undefined);
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
