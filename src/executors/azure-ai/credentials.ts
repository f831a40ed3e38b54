// Authentication for Azure AI services, as ContentFlow does it: the API key when one is set, otherwise
// DefaultAzureCredential with the service's scope. Keys are registered with the logger so they never show in logs.
import { AzureKeyCredential, type TokenCredential } from "@azure/core-auth";
import { azureCredential } from "../../config/credential.ts";
import { registerSecret } from "../../log/logger.ts";

export const COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default";
export const SEARCH_SCOPE = "https://search.azure.com/.default";

/** AzureKeyCredential for a key, else the process's DefaultAzureCredential (for SDK clients). */
export function sdkCredential(key: string | undefined): AzureKeyCredential | TokenCredential {
  if (key) {
    registerSecret(key);
    return new AzureKeyCredential(key);
  }
  return azureCredential();
}

/** Headers for plain REST calls: `keyHeader: key`, or a bearer token for `scope` (only over https). */
export function restAuthHeaders(
  endpoint: string,
  key: string | undefined,
  keyHeader: string,
  scope: string,
): (signal?: AbortSignal) => Promise<Record<string, string>> {
  if (key) {
    registerSecret(key);
    return () => Promise.resolve({ [keyHeader]: key });
  }
  return async (signal) => {
    if (new URL(endpoint).protocol !== "https:") {
      throw new Error(`refusing to send an Azure AD token over plain http to ${new URL(endpoint).host}; use https`);
    }
    const token = await azureCredential().getToken(scope, { abortSignal: signal });
    if (!token) throw new Error(`no Azure AD token for ${scope}`);
    return { authorization: `Bearer ${token.token}` };
  };
}
