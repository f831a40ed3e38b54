// The built-in executor types. One line per type.
import type { ExecutorDefinition } from "../types.ts";
import { anyDefinition } from "../per-item.ts";
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
import { subpipeline } from "./subpipeline.ts";
import { forEachContent } from "./for-each-content.ts";
import { documentSetInitializer } from "./document-set-initializer.ts";
import { documentSetCollector } from "./document-set-collector.ts";
import { crossDocumentFieldAggregator } from "./cross-document-field-aggregator.ts";

export function builtinExecutors(): ExecutorDefinition[] {
  return [
    anyDefinition(passThrough),
    anyDefinition(fanInAggregator),
    anyDefinition(fieldMapper),
    anyDefinition(fieldSelector),
    anyDefinition(recursiveTextChunker),
    anyDefinition(csvExtractor),
    anyDefinition(tableRowSplitter),
    anyDefinition(azureBlobContentRetriever),
    anyDefinition(azureBlobOutput),
    anyDefinition(httpExecutor),
    anyDefinition({ ...azureBlobInputDiscovery, crawls: true }),
    anyDefinition(subpipeline),
    anyDefinition(forEachContent),
    anyDefinition(documentSetInitializer),
    anyDefinition(documentSetCollector),
    anyDefinition(crossDocumentFieldAggregator),
  ];
}
