// One DefaultAzureCredential per process (the Python worker built a new chain per call and never closed it).
import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";

let credential: TokenCredential | undefined;

export function azureCredential(): TokenCredential {
  credential ??= new DefaultAzureCredential();
  return credential;
}
