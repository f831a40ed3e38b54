// The check every AI executor makes before it lets the worker's managed-identity token go to an endpoint from its
// settings: the decision is src/net/token-hosts.ts (pure); this names the setting in the message.
import type { Config } from "../../config/schema.ts";
import { managedIdentityRefusal, operatorTokenHosts, type TokenService } from "../../net/token-hosts.ts";

/** Where an executor would send a managed-identity token, and the setting that names it (for the message). */
export interface TokenTarget {
  endpoint: string;
  service: TokenService;
  /** The setting the endpoint comes from, e.g. doc_intelligence_endpoint. */
  setting: string;
  config: Pick<Config, "MANAGED_IDENTITY_ALLOWED_HOSTS" | "AZURE_OPENAI_ENDPOINT">;
}

/**
 * Throws when the worker's managed-identity token may not go to the target's endpoint. Executors call it when they
 * are created, so the pipeline fails to compile (and `pipeline check` names the executor and the setting).
 */
export function checkTokenTarget(target: TokenTarget): void {
  const refusal = managedIdentityRefusal(target.endpoint, target.service, operatorTokenHosts(target.config));
  if (refusal) throw new Error(`invalid settings: ${target.setting}: ${refusal}`);
}
