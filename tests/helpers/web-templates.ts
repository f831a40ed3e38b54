// The web UI's 12 pipeline templates (tests/fixtures/contentflow-pipelines/web-templates) as a user saves them: the
// UI makes the user fill every setting the executor catalog marks required, and the templates ship with placeholder
// endpoints ("https://<foundry-resource>…", "<gpt-rag-index-name>"). completeTemplate does what that user does, with
// `${VAR}` references to the worker's environment, so that one worker environment (real services, or the local
// fakes) serves every template.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { ROOT } from "./binary.ts";

export const WEB_TEMPLATES_DIR = join(ROOT, "tests", "fixtures", "contentflow-pipelines", "web-templates");

/** The template files' names (without .yaml), sorted. */
export function webTemplateNames(): string[] {
  return readdirSync(WEB_TEMPLATES_DIR).filter((f) => f.endsWith(".yaml")).map((f) => f.slice(0, -5)).sort();
}

export function readWebTemplate(name: string): string {
  return readFileSync(join(WEB_TEMPLATES_DIR, `${name}.yaml`), "utf8");
}

/** Which worker variable each endpoint-like setting refers to once completed. */
const SETTING_VARIABLES: Record<string, string> = {
  endpoint: "${AZURE_OPENAI_ENDPOINT}",
  content_understanding_endpoint: "${AZURE_CONTENT_UNDERSTANDING_ENDPOINT}",
  doc_intelligence_endpoint: "${AZURE_DOCUMENT_INTELLIGENCE_ENDPOINT}",
  ai_search_account: "${AZURE_AI_SEARCH_SERVICE_ACCOUNT_NAME}",
  ai_search_index: "${AZURE_AI_SEARCH_INDEX}",
};

/** Catalog-required settings some templates leave out, per executor type, as the user fills them in. */
const REQUIRED_FILL: Record<string, Record<string, unknown>> = {
  azure_blob_input: { blob_container_name: "content" },
  azure_blob_output: { container_name: "processed" },
  azure_content_understanding_extractor: {
    content_understanding_endpoint: SETTING_VARIABLES.content_understanding_endpoint,
    // Required in the executor catalog; the UI fills in the catalog's default (contentflow-lib/executor_catalog.yaml).
    content_understanding_model_mappings:
      '{"gpt-4.1":"gpt-4.1","gpt-4.1-mini":"gpt-4.1-mini","text-embedding-3-large":"text-embedding-3-large"}',
  },
  azure_document_intelligence_extractor: { doc_intelligence_endpoint: SETTING_VARIABLES.doc_intelligence_endpoint },
  content_classifier: { endpoint: SETTING_VARIABLES.endpoint, deployment_name: "${AZURE_OPENAI_DEPLOYMENT_NAME}" },
  sentiment_analyser: { endpoint: SETTING_VARIABLES.endpoint, deployment_name: "${AZURE_OPENAI_DEPLOYMENT_NAME}" },
  entity_extractor: { endpoint: SETTING_VARIABLES.endpoint, deployment_name: "${AZURE_OPENAI_DEPLOYMENT_NAME}" },
  keyword_extractor: { endpoint: SETTING_VARIABLES.endpoint, deployment_name: "${AZURE_OPENAI_DEPLOYMENT_NAME}" },
  language_detector: { endpoint: SETTING_VARIABLES.endpoint, deployment_name: "${AZURE_OPENAI_DEPLOYMENT_NAME}" },
  content_translator: { endpoint: SETTING_VARIABLES.endpoint, deployment_name: "${AZURE_OPENAI_DEPLOYMENT_NAME}" },
  pii_detector: { endpoint: SETTING_VARIABLES.endpoint, deployment_name: "${AZURE_OPENAI_DEPLOYMENT_NAME}" },
  // pii-detection's "Format Results" step names no mapping; the user maps the detector's output (pii_detected).
  field_mapper: { mappings: { pii_detected: "pii_report" } },
};

const PLACEHOLDER = /<[a-z][a-z0-9-]*>/;

interface TemplateExecutor {
  id: string;
  type: string;
  settings?: Record<string, unknown>;
}

/**
 * The template with its placeholders replaced by `${VAR}` references and the required settings it leaves out filled
 * in; `extra` settings per executor type are merged last (e.g. a test's retrieval settings).
 */
export function completeTemplate(yamlText: string, extra: Record<string, Record<string, unknown>> = {}): string {
  const doc = parse(yamlText) as { pipeline: { executors: TemplateExecutor[] } };
  for (const ex of doc.pipeline.executors) {
    const settings: Record<string, unknown> = { ...(ex.settings ?? {}) };
    for (const [key, value] of Object.entries(settings)) {
      if (typeof value === "string" && PLACEHOLDER.test(value)) {
        const variable = SETTING_VARIABLES[key];
        if (variable === undefined) throw new Error(`template executor '${ex.id}': no variable for ${key}=${value}`);
        settings[key] = variable;
      }
    }
    for (const [key, value] of Object.entries(REQUIRED_FILL[ex.type] ?? {})) {
      if (settings[key] === undefined || settings[key] === "") settings[key] = value;
    }
    Object.assign(settings, extra[ex.type] ?? {});
    ex.settings = settings;
  }
  return stringify(doc, { lineWidth: 0 });
}
