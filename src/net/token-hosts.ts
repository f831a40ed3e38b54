// Where the worker's managed-identity (Microsoft Entra) tokens may go. An AI executor without a key authenticates
// with the process's DefaultAzureCredential, and the endpoint comes from the pipeline (untrusted): a token for the
// Cognitive Services or Search scope sent to `https://attacker.example` can be replayed against every resource the
// identity reaches. So a token goes only to hosts of its own Azure service (public cloud, Azure Government, Azure
// China), over https, or to hosts the operator lists in MANAGED_IDENTITY_ALLOWED_HOSTS (an API gateway, a private
// DNS name, a local fake in tests). The host of the operator's AZURE_OPENAI_ENDPOINT counts as listed. Keys a
// pipeline passes itself (api_key, `${VAR}`) are the author's own choice and are not governed here.
import type { Config } from "../config/schema.ts";
import { hostListed } from "./outbound.ts";

/** The Azure services the executors ask tokens for, each with the scope's own audience. */
export type TokenService = "cognitive_services" | "ai_search" | "cosmos_db";

/** The host patterns of each service, per cloud. */
export const TOKEN_SERVICE_HOSTS: Readonly<Record<TokenService, readonly string[]>> = {
  // Azure OpenAI, Document Intelligence, Content Understanding (AI Foundry) and the other Cognitive Services.
  cognitive_services: [
    "*.cognitiveservices.azure.com",
    "*.openai.azure.com",
    "*.services.ai.azure.com",
    "*.cognitiveservices.azure.us",
    "*.openai.azure.us",
    "*.cognitiveservices.azure.cn",
    "*.openai.azure.cn",
  ],
  ai_search: ["*.search.windows.net", "*.search.azure.us", "*.search.azure.cn"],
  cosmos_db: ["*.documents.azure.com", "*.documents.azure.us", "*.documents.azure.cn"],
};

const SERVICE_NAMES: Record<TokenService, string> = {
  cognitive_services: "Azure AI (Cognitive Services / Azure OpenAI)",
  ai_search: "Azure AI Search",
  cosmos_db: "Cosmos DB",
};

/**
 * Why a managed-identity token for `service` must not be sent to `endpoint`, or undefined when it may. Pure.
 * `operatorHosts`: host names, "*.suffix" patterns or "host:port" the operator allows besides the service's own
 * domains (those may also be plain http, for local fakes).
 */
export function managedIdentityRefusal(
  endpoint: string,
  service: TokenService,
  operatorHosts: readonly string[],
): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return "the endpoint is not a URL";
  }
  if (hostListed(url, operatorHosts)) return undefined;
  const host = url.hostname.toLowerCase();
  if (!hostListed(url, TOKEN_SERVICE_HOSTS[service])) {
    return `a managed-identity token goes only to ${SERVICE_NAMES[service]} hosts (${
      TOKEN_SERVICE_HOSTS[service].join(", ")
    }) or hosts listed in MANAGED_IDENTITY_ALLOWED_HOSTS, not to '${host}'; give the service's key instead or ask the operator to list the host`;
  }
  if (url.protocol !== "https:") {
    return `a managed-identity token is sent only over https, not to ${url.protocol}//${host}`;
  }
  return undefined;
}

/** The hosts the operator allows besides the services' own: MANAGED_IDENTITY_ALLOWED_HOSTS and AZURE_OPENAI_ENDPOINT. */
export function operatorTokenHosts(
  config: Pick<Config, "MANAGED_IDENTITY_ALLOWED_HOSTS" | "AZURE_OPENAI_ENDPOINT">,
): string[] {
  const hosts = [...config.MANAGED_IDENTITY_ALLOWED_HOSTS];
  if (config.AZURE_OPENAI_ENDPOINT && URL.canParse(config.AZURE_OPENAI_ENDPOINT)) {
    hosts.push(new URL(config.AZURE_OPENAI_ENDPOINT).host);
  }
  return hosts;
}
