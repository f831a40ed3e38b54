// The built-in executor types. One line per type.
import type { ExecutorDefinition } from "../types.ts";
import { passThrough } from "./pass-through.ts";
import { fanInAggregator } from "./fan-in-aggregator.ts";
import { fieldMapper } from "./field-mapper.ts";
import { fieldSelector } from "./field-selector.ts";
import { recursiveTextChunker } from "./recursive-text-chunker.ts";
import { csvExtractor } from "./csv-extractor.ts";
import { tableRowSplitter } from "./table-row-splitter.ts";
import { azureBlobContentRetriever } from "./azure-blob-content-retriever.ts";
import { azureBlobOutput } from "./azure-blob-output.ts";
import { httpExecutor } from "./http.ts";
import { azureBlobInputDiscovery } from "./azure-blob-input-discovery.ts";
import { wordExtractor } from "./word-extractor.ts";
import { pdfExtractor } from "./pdf-extractor.ts";
import { powerpointExtractor } from "./powerpoint-extractor.ts";
import { excelExtractor } from "./excel-extractor.ts";
import { contentRetriever } from "./content-retriever.ts";
import { azureOpenAIAgent } from "./azure-openai-agent.ts";
import { azureOpenAIEmbeddings } from "./azure-openai-embeddings.ts";
import { textSummarizer } from "./text-summarizer.ts";
import { entityExtractor } from "./entity-extractor.ts";
import { sentimentAnalyser } from "./sentiment-analyser.ts";
import { contentClassifier } from "./content-classifier.ts";
import { piiDetector } from "./pii-detector.ts";
import { keywordExtractor } from "./keyword-extractor.ts";
import { languageDetector } from "./language-detector.ts";
import { contentTranslator } from "./content-translator.ts";
import { azureDocumentIntelligenceExtractor } from "./azure-document-intelligence-extractor.ts";
import { azureContentUnderstandingExtractor } from "./azure-content-understanding-extractor.ts";
import { gptragSearchIndexDocumentGenerator } from "./gptrag-search-index-document-generator.ts";
import { aiSearchIndexOutput } from "./ai-search-index-output.ts";
import { subpipeline } from "./subpipeline.ts";
import { forEachContent } from "./for-each-content.ts";
import { documentSetInitializer } from "./document-set-initializer.ts";
import { documentSetCollector } from "./document-set-collector.ts";
import { crossDocumentFieldAggregator } from "./cross-document-field-aggregator.ts";
import { cosmosDbLookup } from "./cosmos-db-lookup.ts";
import { webScraper } from "./web-scraper.ts";
import { crossDocumentComparison } from "./cross-document-comparison.ts";

/**
 * Every built-in definition, each typed by its own settings schema. They fit one list without a cast: `create` is a
 * method, and the compiler parses an executor's settings with that definition's own schema before it calls create.
 */
export function builtinExecutors(): ExecutorDefinition[] {
  return [
    passThrough,
    fanInAggregator,
    fieldMapper,
    fieldSelector,
    recursiveTextChunker,
    csvExtractor,
    tableRowSplitter,
    azureBlobContentRetriever,
    azureBlobOutput,
    httpExecutor,
    azureBlobInputDiscovery,
    wordExtractor,
    pdfExtractor,
    powerpointExtractor,
    excelExtractor,
    contentRetriever,
    azureOpenAIAgent,
    azureOpenAIEmbeddings,
    textSummarizer,
    entityExtractor,
    sentimentAnalyser,
    contentClassifier,
    piiDetector,
    keywordExtractor,
    languageDetector,
    contentTranslator,
    azureDocumentIntelligenceExtractor,
    azureContentUnderstandingExtractor,
    gptragSearchIndexDocumentGenerator,
    aiSearchIndexOutput,
    subpipeline,
    forEachContent,
    documentSetInitializer,
    documentSetCollector,
    crossDocumentFieldAggregator,
    cosmosDbLookup,
    webScraper,
    crossDocumentComparison,
  ];
}
