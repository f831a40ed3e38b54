// The web UI's 12 pipeline templates run through the compiled binary: each completed as its user must
// (tests/helpers/web-templates.ts) with the worker's environment pointing at the local fakes of the Azure AI services
// (loopback allowed by OUTBOUND_ALLOWED_PRIVATE_HOSTS), stored in the Cosmos emulator with a vault of its own, and one
// task per template (a document in Azurite, as the source worker would have discovered it) queued together for one
// supervisor. Each execution ends completed with the template's outputs in their fields.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { ensureBinary } from "../helpers/binary.ts";
import { BinaryRun } from "../helpers/binary-run.ts";
import { namedQueue, preloadTasks, seedCosmos, type SeededStore } from "../helpers/seeded-store.ts";
import { blobService, uploadBlobs } from "../helpers/source-kit.ts";
import { type FakeAzureOpenAI, startFakeAzureOpenAI } from "../helpers/fake-azure-openai.ts";
import { type FakeDocumentIntelligence, startFakeDocumentIntelligence } from "../helpers/fake-document-intelligence.ts";
import { type FakeContentUnderstanding, startFakeContentUnderstanding } from "../helpers/fake-content-understanding.ts";
import { type FakeAiSearch, startFakeAiSearch } from "../helpers/fake-ai-search.ts";
import { completeTemplate, readWebTemplate, webTemplateNames } from "../helpers/web-templates.ts";
import { makePdf, RED_PNG } from "../helpers/documents.ts";
import { buildTaskMessage, type TaskMessage } from "../../src/model/task-envelope.ts";
import { sleep } from "../../src/util/sleep.ts";
import { parse } from "yaml";

const QUEUE = "template-tasks";
const INPUT_CONTAINER = "content";
const SEARCH_INDEX = "gpt-rag-index";
const KEYS = {
  openai: "openai-key-for-templates",
  di: "di-key-for-templates",
  cu: "cu-key-for-templates",
  search: "search-key-for-templates",
};

const CHAT_TYPES = [
  "azure_openai_agent",
  "text_summarizer",
  "entity_extractor",
  "sentiment_analyser",
  "content_classifier",
  "pii_detector",
  "keyword_extractor",
  "language_detector",
  "content_translator",
];

/** Settings the test adds to every template: keys instead of Microsoft Entra ID, the fake search service, short polls. */
function testSettings(): Record<string, Record<string, unknown>> {
  const chat = { credential_type: "azure_key_credential", api_key: "${AZURE_OPENAI_API_KEY}" };
  return {
    ...Object.fromEntries(CHAT_TYPES.map((t) => [t, chat])),
    azure_document_intelligence_extractor: {
      doc_intelligence_credential_key: "${AZURE_DOCUMENT_INTELLIGENCE_KEY}",
      polling_interval_secs: 0.05,
    },
    azure_content_understanding_extractor: {
      content_understanding_subscription_key: "${AZURE_CONTENT_UNDERSTANDING_API_KEY}",
      content_understanding_polling_interval: 0.05,
    },
    ai_search_index_output: {
      ai_search_endpoint: "${AZURE_AI_SEARCH_ENDPOINT}",
      ai_search_api_key: "${AZURE_AI_SEARCH_API_KEY}",
    },
  };
}

/** Where the extracted text is once Content Understanding has answered (its default output field). */
const CU_MARKDOWN = "content_understanding_output.result.contents.0.markdown";

/**
 * What the user of content-classification, language-translation and pii-detection must still set: their AI steps
 * read `input_field` (default `text`, as in ContentFlow), which nothing in these templates writes; the other
 * templates map the Content Understanding markdown with a field_mapper first. (The document itself needs no
 * setting: the extractor reads the discovered blob, although these templates have no content retriever.)
 */
const INPUT_FIELD_FILL: Record<string, string[]> = {
  "content-classification": ["content_classifier", "sentiment_analyser", "entity_extractor", "keyword_extractor"],
  "language-translation": ["language_detector", "content_translator"],
  "pii-detection": ["pii_detector"],
};

/** testSettings() plus the template's own fill. */
function settingsFor(template: string): Record<string, Record<string, unknown>> {
  const settings = testSettings();
  for (const type of INPUT_FIELD_FILL[template] ?? []) settings[type] = { ...settings[type], input_field: CU_MARKDOWN };
  return settings;
}

/** The document each template gets: an image for the image template, a PDF for the others. */
function inputFile(template: string): string {
  return template === "image-content-extraction" ? "photo.png" : "report.pdf";
}

function firstExecutorId(yamlText: string): string {
  return (parse(yamlText) as { pipeline: { executors: Array<{ id: string }> } }).pipeline.executors[0].id;
}

function templateTask(template: string, yamlText: string): TaskMessage {
  const file = inputFile(template);
  return buildTaskMessage({
    taskId: `task_${template}`,
    executionId: `exec_${template}`,
    pipelineId: `tpl-${template}`,
    pipelineName: template,
    vaultId: `vault-${template}`,
    items: [{
      id: {
        canonical_id: `https://devstoreaccount1.blob.core.windows.net/${INPUT_CONTAINER}/${file}`,
        unique_id: `${template}-${file}`,
        source_name: "devstoreaccount1",
        source_type: "azure_blob",
        container: INPUT_CONTAINER,
        path: file,
        filename: file,
      },
      data: {},
      summary_data: {},
      executor_logs: [],
    }],
    executedInputExecutor: firstExecutorId(yamlText),
    maxRetries: 0,
  });
}

/** The output fields of the financial template's 12 agents. */
const AGENT_OUTPUTS = [
  "cash_flow_liquidity",
  "kpis",
  "risk_factors",
  "non_gaap_adjustments",
  "accounting_estimates_changes",
  "esg_disclosures",
  "capital_allocation",
  "segments_geography",
  "footnotes",
  "legal_commitments_contingencies",
  "guidance_outlook",
  "executive_brief",
];

// deno-lint-ignore no-explicit-any
type Execution = Record<string, any>;

describe("the web UI's 12 templates through the compiled binary, against the emulators and the AI fakes", () => {
  let emu: Emulators;
  let store: SeededStore;
  let run: BinaryRun | undefined;
  let openai: FakeAzureOpenAI;
  let di: FakeDocumentIntelligence;
  let cu: FakeContentUnderstanding;
  let search: FakeAiSearch;
  const executions = new Map<string, Execution>();

  before(async () => {
    const binary = ensureBinary();
    [openai, di, cu, search] = await Promise.all([
      startFakeAzureOpenAI({ apiKeys: [KEYS.openai] }),
      startFakeDocumentIntelligence({ key: KEYS.di }),
      // No default model deployments on the resource: the templates, completed as the UI does, carry the catalog's
      // content_understanding_model_mappings and set them (the fake, as the service, refuses prebuilt-documentSearch
      // without them).
      startFakeContentUnderstanding({ key: KEYS.cu }),
      startFakeAiSearch({ key: KEYS.search, index: SEARCH_INDEX }),
    ]);
    // Every chat answer is a JSON object, so that the templates' parse_response_as_json steps get one.
    openai.setChat((r) => {
      const messages = r.body.messages as Array<{ role: string; content: string }>;
      const user = messages.findLast((m) => m.role === "user")?.content ?? "";
      return JSON.stringify({ answer: "fake", input_chars: String(user).length });
    });
    emu = await startEmulators();
    store = await seedCosmos(emu);
    const pipelines = store.db.container(store.config.COSMOS_DB_CONTAINER_PIPELINES);
    const vaults = store.db.container(store.config.COSMOS_DB_CONTAINER_VAULTS);
    const tasks: TaskMessage[] = [];
    for (const template of webTemplateNames()) {
      const yaml = completeTemplate(readWebTemplate(template), settingsFor(template));
      await pipelines.items.upsert({ id: `tpl-${template}`, name: template, yaml, enabled: true });
      await vaults.items.upsert({
        id: `vault-${template}`,
        name: template,
        pipeline_id: `tpl-${template}`,
        enabled: true,
        save_execution_output: true,
      });
      tasks.push(templateTask(template, yaml));
    }
    await uploadBlobs(emu, INPUT_CONTAINER, [
      {
        name: "report.pdf",
        body: Buffer.from(await makePdf({ pages: 2, title: "Annual report" })),
        contentType: "application/pdf",
      },
      { name: "photo.png", body: RED_PNG, contentType: "image/png" },
    ]);
    await blobService(emu).getContainerClient("processed").createIfNotExists();
    const queue = namedQueue(emu, QUEUE);
    await queue.createIfNotExists();
    await preloadTasks(store, queue, tasks);

    run = await BinaryRun.start(binary, {
      ...emu.env,
      STORAGE_WORKER_QUEUE_NAME: QUEUE,
      NUM_PROCESSING_WORKERS: "1",
      NUM_SOURCE_WORKERS: "0",
      PROCESSING_CONCURRENCY: "4",
      // A template that cannot run fails at once (retries would only repeat the same failure).
      MAX_TASK_RETRIES: "1",
      RETRY_BASE_DELAY_SECONDS: "0",
      OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
      PIPELINE_ENV_ALLOWED_VARIABLES:
        "*,AZURE_OPENAI_API_KEY,AZURE_DOCUMENT_INTELLIGENCE_KEY,AZURE_CONTENT_UNDERSTANDING_API_KEY,AZURE_AI_SEARCH_API_KEY",
      AZURE_OPENAI_ENDPOINT: openai.v1Endpoint,
      AZURE_OPENAI_API_KEY: KEYS.openai,
      AZURE_OPENAI_DEPLOYMENT_NAME: "gpt-4.1-mini",
      AZURE_DOCUMENT_INTELLIGENCE_ENDPOINT: di.endpoint,
      AZURE_DOCUMENT_INTELLIGENCE_KEY: KEYS.di,
      AZURE_CONTENT_UNDERSTANDING_ENDPOINT: cu.endpoint,
      AZURE_CONTENT_UNDERSTANDING_API_KEY: KEYS.cu,
      AZURE_AI_SEARCH_ENDPOINT: search.endpoint,
      AZURE_AI_SEARCH_API_KEY: KEYS.search,
      AZURE_AI_SEARCH_SERVICE_ACCOUNT_NAME: "unused-because-of-the-endpoint",
      AZURE_AI_SEARCH_INDEX: SEARCH_INDEX,
    });
    const container = store.db.container(store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline && executions.size < tasks.length) {
      const { resources } = await container.items.query<Execution>(
        "SELECT * FROM c WHERE c.status = 'completed' OR c.status = 'failed'",
      ).fetchAll();
      for (const doc of resources) executions.set(doc.vault_id.slice("vault-".length), doc);
      if (executions.size < tasks.length) await sleep(500);
    }
  });

  after(async () => {
    await run?.stop();
    await emu?.stop();
    await Promise.all([openai?.close(), di?.close(), cu?.close(), search?.close()]);
  });

  /** Per template that runs: the data fields its executors' output_field settings name. */
  const COMPLETED: Record<string, string[]> = {
    "article-summarization": ["content_understanding_result", "markdown", "summary", "entities"],
    "entity-mapping": ["content_understanding_result", "markdown", "entities"],
    "financial-annual-report-extraction": [
      "pdf_output",
      "text",
      ...AGENT_OUTPUTS,
    ],
    "gpt-rag-ingestion": ["content_understanding_result", "markdown", "chunks", "search_documents"],
    "image-content-extraction": ["doc_intell_output", "content_understanding_result"],
    "language-translation": ["content_understanding_output", "language", "translated_text"],
    "multi-format-processing-cu": ["content_understanding_result"],
    "multi-format-processing-doc-intell": ["doc_intell_output"],
    "multi-format-processing-python-libs": ["pdf_output", "text", "chunks"],
    "pdf-extraction": ["doc_intell_output", "chunks"],
    "pii-detection": ["content_understanding_output", "pii_report"],
  };

  test("all 12 executions finished", () => {
    assert.deepEqual([...executions.keys()].sort(), webTemplateNames());
  });

  for (const [template, fields] of Object.entries(COMPLETED)) {
    test(`${template}: completed, outputs in ${fields.join(", ")}, saved to the output container`, () => {
      const e = executions.get(template);
      assert.ok(e, "finished");
      assert.equal(e.status, "completed", e.error);
      const [item] = e.content;
      for (const f of fields) assert.notEqual(item.data[f], undefined, `data.${f}`);
      assert.equal(item.summary_data.blob_output.container, "processed");
      assert.equal(item.summary_data.blob_output.write_status, "success");
    });
  }

  test("the Content Understanding templates set the catalog's default model deployments on the resource", () => {
    assert.deepEqual(cu.modelDeployments, {
      "gpt-4.1": "gpt-4.1",
      "gpt-4.1-mini": "gpt-4.1-mini",
      "text-embedding-3-large": "text-embedding-3-large",
    });
    assert.ok(cu.requests.some((r) => r.route === "defaults"));
  });

  test("financial-annual-report-extraction: each agent's JSON answer is parsed into its field", () => {
    const [item] = executions.get("financial-annual-report-extraction")!.content;
    for (const f of AGENT_OUTPUTS) assert.equal(item.data[f].answer, "fake", f);
  });

  test("gpt-rag-ingestion: the chunks are indexed into the search service", () => {
    const [item] = executions.get("gpt-rag-ingestion")!.content;
    assert.ok(item.data.search_documents.length >= 1);
    assert.equal(search.documents.size, item.data.search_documents.length);
    assert.equal(item.summary_data.indexed_count, item.data.search_documents.length);
  });

  test("multi-format-processing-python-libs: the Office extractors pass a PDF on as invalid_file", () => {
    const [item] = executions.get("multi-format-processing-python-libs")!.content;
    assert.equal(item.summary_data.word_extraction_status, "invalid_file");
    assert.equal(item.summary_data.pptx_extraction_status, "invalid_file");
    assert.equal(item.summary_data.excel_extraction_status, "invalid_file");
  });

  // content-classification, language-translation and pii-detection go from azure_blob_input straight to Content
  // Understanding, without a content retriever: the extractor reads the discovered blob itself (ContentFlow's fails
  // with "Document missing required content"), and the AI steps after it get its markdown.

  /** The markdown of the item's Content Understanding answer, after checking that it came from the blob. */
  function markdownReadFromBlob(item: Execution): string {
    const log = item.executor_logs.find((l: Execution) => l.executor_id === "content-understanding-1");
    assert.equal(log.status, "completed");
    assert.equal(log.details.document_read_from, `blob ${INPUT_CONTAINER}/report.pdf`);
    const answer = item.data.content_understanding_output;
    assert.equal(answer.status, "Succeeded");
    assert.equal(item.summary_data.extraction_status, "success");
    return answer.result.contents[0].markdown;
  }

  test("content-classification: completed; each parallel branch's item has its analysis and keywords, and is saved", () => {
    const e = executions.get("content-classification");
    assert.ok(e, "finished");
    assert.equal(e.status, "completed", e.error);
    // No fan_in_aggregator at the join: keyword-1 gets one item per branch, in the order the edges name them.
    assert.equal(e.content.length, 3);
    const fields = ["classification", "sentiment", "entities"];
    e.content.forEach((item: Execution, i: number) => {
      const markdown = markdownReadFromBlob(item);
      const own = fields[i];
      assert.deepEqual(item.data[own], { answer: "fake", input_chars: markdown.length }, `data.${own}`);
      for (const other of fields.filter((f) => f !== own)) assert.equal(item.data[other], undefined, other);
      assert.deepEqual(item.data.keywords, { answer: "fake", input_chars: markdown.length });
      assert.equal(item.summary_data.blob_output.write_status, "success");
    });
  });

  test("language-translation: the language and the translation of the blob's markdown", () => {
    const [item] = executions.get("language-translation")!.content;
    const markdown = markdownReadFromBlob(item);
    assert.deepEqual(item.data.language, { answer: "fake", input_chars: markdown.length });
    // content_translator stores the answer's text as it is (ContentFlow does not parse it).
    assert.equal(item.data.translated_text, JSON.stringify({ answer: "fake", input_chars: markdown.length }));
  });

  test("pii-detection: the PII found in the blob's markdown, mapped to pii_report by the Format Results step", () => {
    const [item] = executions.get("pii-detection")!.content;
    const markdown = markdownReadFromBlob(item);
    assert.deepEqual(item.data.pii_detected, { answer: "fake", input_chars: markdown.length });
    assert.deepEqual(item.data.pii_report, item.data.pii_detected);
  });

  test("the services were called, and no key reached an execution record", () => {
    assert.ok(openai.requests.length >= 12 + 2, `${openai.requests.length} chat calls`);
    // The fakes refuse a call without their key, so every answer above was a call made with it.
    assert.ok(di.documents.length >= 3);
    assert.ok(cu.documents.length >= 8);
    const records = JSON.stringify([...executions.values()]);
    for (const key of Object.values(KEYS)) assert.ok(!records.includes(key), "no key in the records");
  });
});
