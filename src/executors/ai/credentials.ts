// Credentials of the Azure AI executors that take the key under a name of their own
// (doc_intelligence_credential_key, content_understanding_subscription_key, ai_search_api_key): the key when one is
// set, otherwise DefaultAzureCredential with the service's scope (auth.ts gives the tokens, cached). Keys are
// registered with the logger so they never show in logs. Without a key, the endpoint must be a host the worker's
// managed-identity token may go to (src/net/token-hosts.ts, asked through token-target.ts).
import { AzureKeyCredential, type TokenCredential } from "@azure/core-auth";
import { azureCredential } from "../../config/credential.ts";
import { registerSecret } from "../../log/logger.ts";
import { entraTokenProvider } from "./auth.ts";
import { checkTokenTarget, type TokenTarget } from "./token-target.ts";

export { checkTokenTarget, type TokenTarget };

/** The process's DefaultAzureCredential for an SDK client of `target`; throws when the target may not get a token. */
export function managedIdentityCredential(target: TokenTarget): TokenCredential {
  checkTokenTarget(target);
  return azureCredential();
}

/** AzureKeyCredential for a key, else managedIdentityCredential(target) (for SDK clients). */
export function sdkCredential(key: string | undefined, target: TokenTarget): AzureKeyCredential | TokenCredential {
  if (key) {
    registerSecret(key);
    return new AzureKeyCredential(key);
  }
  return managedIdentityCredential(target);
}

/**
 * Headers for plain REST calls to `target.endpoint`: `keyHeader: key`, or a bearer token for `scope` (only over
 * https, and only when the endpoint may get the token; checked now).
 */
export function restAuthHeaders(
  key: string | undefined,
  keyHeader: string,
  scope: string,
  target: TokenTarget,
): () => Promise<Record<string, string>> {
  if (key) {
    registerSecret(key);
    return () => Promise.resolve({ [keyHeader]: key });
  }
  checkTokenTarget(target);
  const endpoint = target.endpoint;
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
