// Credentials of the Azure AI executors that take the key under a name of their own
// (doc_intelligence_credential_key, content_understanding_subscription_key, ai_search_api_key): the key when one is
// set, otherwise DefaultAzureCredential with the service's scope (auth.ts gives the tokens, cached). Keys are
// registered with the logger so they never show in logs.
import { AzureKeyCredential, type TokenCredential } from "@azure/core-auth";
import { azureCredential } from "../../config/credential.ts";
import { registerSecret } from "../../log/logger.ts";
import { entraTokenProvider } from "./auth.ts";

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
): () => Promise<Record<string, string>> {
  if (key) {
    registerSecret(key);
    return () => Promise.resolve({ [keyHeader]: key });
  }
  const token = entraTokenProvider(scope);
  return async () => {
    if (new URL(endpoint).protocol !== "https:") {
      throw new Error(
        `refusing to send a Microsoft Entra token over plain http to ${new URL(endpoint).host}; use https`,
      );
    }
    return { authorization: `Bearer ${await token()}` };
  };
}
