// The compiled binary runs a pipeline with the Azure AI document executors against the local fakes: a PDF blob is
// discovered, downloaded to a temp file, analysed by Document Intelligence (@azure-rest/ai-document-intelligence
// inside the binary) and Content Understanding (fetch), turned into GPT-RAG search documents and indexed into AI
// Search (@azure/search-documents inside the binary). The execution record keeps the full output.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { createVault, executionRecordsOfVault, upsertPipeline } from "../helpers/seeded-store.ts";
import { uploadBlobs } from "../helpers/source-kit.ts";
import { type FakeDocumentIntelligence, startFakeDocumentIntelligence } from "../helpers/fake-document-intelligence.ts";
import { type FakeContentUnderstanding, startFakeContentUnderstanding } from "../helpers/fake-content-understanding.ts";
import { type FakeAiSearch, startFakeAiSearch } from "../helpers/fake-ai-search.ts";
import { type E2eEnv, e2eEnv, until } from "../helpers/e2e-kit.ts";

const PDF = Buffer.from("%PDF-1.7\ninvoice for the binary\n%%EOF\n");

const PIPELINE = `pipeline:
  name: ai-documents
  executors:
    - id: discover
      type: azure_blob_input_discovery
      settings: {blob_storage_account: devstoreaccount1, blob_container_name: ai-docs, file_extensions: ".pdf"}
    - id: retrieve
      type: azure_blob_content_retriever
      settings: {use_temp_file_for_content: true}
    - id: doc-intel
      type: azure_document_intelligence_extractor
      settings:
        doc_intelligence_endpoint: "\${AZURE_DOCUMENT_INTELLIGENCE_ENDPOINT}"
        doc_intelligence_credential_key: "\${AZURE_DOCUMENT_INTELLIGENCE_KEY}"
        polling_interval_secs: 0.05
    - id: content-understanding
      type: azure_content_understanding_extractor
      settings:
        output_field: content_understanding_result
        content_understanding_endpoint: "\${AZURE_CONTENT_UNDERSTANDING_ENDPOINT}"
        content_understanding_subscription_key: "\${AZURE_CONTENT_UNDERSTANDING_API_KEY}"
        content_understanding_polling_interval: 0.05
        content_understanding_model_mappings: '{"gpt-4.1":"gpt-4.1"}'
    - id: generate
      type: gptrag_search_index_document_generator
      settings: {chunk_field: doc_intell_output.pages, content_field: text}
    - id: index
      type: ai_search_index_output
      settings:
        ai_search_endpoint: "\${AZURE_AI_SEARCH_ENDPOINT}"
        ai_search_api_key: "\${AZURE_AI_SEARCH_API_KEY}"
        ai_search_index: ai-docs-index
        chunk_iterator_field: search_documents
        content_to_index_mappings: '{"id": "id", "content": "content", "page": "page", "title": "title"}'
  execution_sequence: [discover, retrieve, doc-intel, content-understanding, generate, index]
`;

describe("compiled binary: Azure AI document executors", () => {
  let e: E2eEnv;
  let di: FakeDocumentIntelligence;
  let cu: FakeContentUnderstanding;
  let search: FakeAiSearch;

  before(async () => {
    [di, cu, search] = await Promise.all([
      startFakeDocumentIntelligence({ key: "di-key-for-the-binary" }),
      startFakeContentUnderstanding({ key: "cu-key-for-the-binary" }),
      startFakeAiSearch({ key: "search-key-for-the-binary", index: "ai-docs-index" }),
    ]);
    e = await e2eEnv({
      STORAGE_WORKER_QUEUE_NAME: "ai-docs-tasks",
      PIPELINE_ENV_ALLOWED_VARIABLES:
        "*,AZURE_DOCUMENT_INTELLIGENCE_KEY,AZURE_CONTENT_UNDERSTANDING_API_KEY,AZURE_AI_SEARCH_API_KEY",
      AZURE_DOCUMENT_INTELLIGENCE_ENDPOINT: di.endpoint,
      AZURE_DOCUMENT_INTELLIGENCE_KEY: "di-key-for-the-binary",
      AZURE_CONTENT_UNDERSTANDING_ENDPOINT: cu.endpoint,
      AZURE_CONTENT_UNDERSTANDING_API_KEY: "cu-key-for-the-binary",
      AZURE_AI_SEARCH_ENDPOINT: search.endpoint,
      AZURE_AI_SEARCH_API_KEY: "search-key-for-the-binary",
    });
    await upsertPipeline(e.store, "pipe-ai-docs", PIPELINE);
    await createVault(e.store, "vault-ai-docs", { pipelineId: "pipe-ai-docs", saveExecutionOutput: true });
    await uploadBlobs(e.emu, "ai-docs", [{ name: "invoice.pdf", body: PDF, contentType: "application/pdf" }]);
  });

  after(async () => {
    await e?.stop();
    await Promise.all([di?.close(), cu?.close(), search?.close()]);
  });

  test("a PDF blob goes through Document Intelligence, Content Understanding and into AI Search", async () => {
    const source = await e.run(["worker", "--role=source", "--once"], { timeoutMs: 90_000 });
    assert.equal(source.code, 0, source.output);
    const processing = e.start(["worker", "--role=processing"], { timeoutMs: 90_000 });
    const done = await until("the execution finished", async () => {
      const [doc] = await executionRecordsOfVault(e.store, "vault-ai-docs");
      return doc && (doc.status === "completed" || doc.status === "failed") ? doc : undefined;
    }, 60_000).catch(() => undefined);
    process.kill(processing.pid, "SIGTERM");
    const stopped = await processing.finished;
    assert.ok(done, `the execution finished\n${stopped.output}`);
    assert.equal(done.status, "completed", `${done.error}\n${stopped.output}`);

    assert.deepEqual(di.documents, [PDF]);
    assert.deepEqual(cu.documents, [PDF]);
    assert.deepEqual(cu.modelDeployments, { "gpt-4.1": "gpt-4.1" });
    const [item] = done.content;
    assert.equal(item.data.doc_intell_output.pages.length, 2);
    assert.equal(item.data.content_understanding_result.status, "Succeeded");
    assert.equal(item.data.search_documents.length, 2);
    assert.equal(item.summary_data.pages_analyzed, 2);
    assert.equal(item.summary_data.indexed_count, 2);
    const details = (id: string) =>
      item.executor_logs.find((l: { executor_id: string }) => l.executor_id === id).details;
    assert.equal(details("doc-intel").pages_analyzed, 2);
    assert.equal(details("content-understanding").pages_analyzed, 2);
    assert.equal(details("index").indexed_count, 2);
    assert.deepEqual(
      [...search.documents.values()].map((d) => [d.page, d.content]),
      [[1, "Contoso Invoice\nInvoice number: INV-100\nTotal: $110.00"], [2, "Sales chart\nThank you"]],
    );
    assert.ok(!JSON.stringify(done).includes("key-for-the-binary"), "no key in the execution record");
  });
});
