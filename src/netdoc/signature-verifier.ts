/**
 * An asynchronous verifyWithDomain (onion/signing.ts): the document checks take one so that
 * an authority can run its signature checks on worker threads (directory/verify-pool.ts).
 */
export interface SignatureVerifier {
  verify(domain: string, message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): Promise<boolean>;
  close(): Promise<void>;
}
