// How an Azure AI executor authenticates: an API key when the pipeline gives one (credential_type
// azure_key_credential, or api_key set without a credential_type), otherwise Microsoft Entra ID tokens from the
// process's DefaultAzureCredential for the Cognitive Services scope, as ContentFlow does. Keys are registered with
// the logger so they never appear in a log line.
import * as v from "valibot";
import type { TokenCredential } from "@azure/identity";
import { azureCredential } from "../../config/credential.ts";
import { registerSecret } from "../../util/redact.ts";
import { choiceSetting, stringSetting } from "../settings.ts";
import { checkTokenTarget, type TokenTarget } from "./token-target.ts";

/** The scope of Azure OpenAI, Document Intelligence, Content Understanding and the other Cognitive Services. */
export const COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default";

export const CREDENTIAL_TYPES = ["default_azure_credential", "azure_key_credential"] as const;
export type CredentialType = (typeof CREDENTIAL_TYPES)[number];

/** The settings entries every AI executor shares: credential_type and api_key (catalog names). */
export const credentialSettings = {
  credential_type: v.optional(choiceSetting("credential_type", CREDENTIAL_TYPES)),
  api_key: v.optional(v.pipe(stringSetting("api_key"), v.trim())),
};

export type AiAuth =
  | { kind: "key"; apiKey: string }
  | { kind: "entra"; token: () => Promise<string> };

/**
 * Picks the authentication from the settings. Throws when azure_key_credential is chosen without a key, and when
 * a token would go to an endpoint that may not get one (src/net/token-hosts.ts); the pipeline compiler adds the
 * executor's id to the message.
 */
export function resolveAuth(
  s: { credential_type?: CredentialType; api_key?: string },
  opts: { target: TokenTarget; scope?: string; credential?: TokenCredential },
): AiAuth {
  const type = s.credential_type ?? (s.api_key ? "azure_key_credential" : "default_azure_credential");
  if (type === "azure_key_credential") {
    if (!s.api_key) throw new Error("api_key must be set when credential_type is azure_key_credential");
    registerSecret(s.api_key);
    return { kind: "key", apiKey: s.api_key };
  }
  checkTokenTarget(opts.target);
  return { kind: "entra", token: entraTokenProvider(opts.scope ?? COGNITIVE_SERVICES_SCOPE, opts.credential) };
}

/** Refresh a cached token this long before it expires. */
const REFRESH_MARGIN_MS = 5 * 60 * 1000;

/**
 * A function returning a bearer token for `scope`: cached until shortly before it expires, one refresh at a time
 * however many calls ask at once.
 */
export function entraTokenProvider(scope: string, credential?: TokenCredential): () => Promise<string> {
  let cached: { token: string; expiresAt: number } | undefined;
  let refreshing: Promise<string> | undefined;
  return () => {
    if (cached && cached.expiresAt - REFRESH_MARGIN_MS > Date.now()) return Promise.resolve(cached.token);
    refreshing ??= (async () => {
      try {
        const got = await (credential ?? azureCredential()).getToken(scope);
        if (!got?.token) throw new Error(`no Microsoft Entra token for ${scope}`);
        registerSecret(got.token);
        cached = { token: got.token, expiresAt: got.expiresOnTimestamp };
        return got.token;
      } catch (err) {
        throw new Error(
          `could not get a Microsoft Entra token for ${scope} (DefaultAzureCredential): ${(err as Error).message}`,
        );
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };
}
