// The built-in executor types. One line per type.
import type { ExecutorDefinition } from "../types.ts";
import { anyDefinition } from "../per-item.ts";
import { passThrough } from "./pass-through.ts";
import { fanInAggregator } from "./fan-in-aggregator.ts";
import { fieldSelector } from "./field-selector.ts";
import { azureBlobInputDiscovery } from "./azure-blob-input-discovery.ts";

export function builtinExecutors(): ExecutorDefinition[] {
  return [
    anyDefinition(passThrough),
    anyDefinition(fanInAggregator),
    anyDefinition(fieldSelector),
    anyDefinition({ ...azureBlobInputDiscovery, crawls: true }),
  ];
}
