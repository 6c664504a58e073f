/**
 * Self-signed TLS credentials for links. The certificate authenticates nothing (identity comes
 * from the LinkHello proof bound to the TLS exporter), so one throwaway ECDSA P-256 key per
 * process is enough; it is never written to disk. Listeners share one server context made from
 * it: building a context parses the PEM key and certificate again (≈ 2 ms, a second of CPU
 * for a local network of 500 relays).
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import tls from "node:tls";
import * as x509 from "@peculiar/x509";

export interface TlsCredentials {
  key: string;
  cert: string;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
let cached: Promise<TlsCredentials> | undefined;
let serverContext: Promise<tls.SecureContext> | undefined;

async function generate(): Promise<TlsCredentials> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: webcrypto.getRandomValues(new Uint8Array(8)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "01"),
    name: "CN=meowonion",
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 365 * 86_400_000),
    keys: keys as unknown as CryptoKeyPair,
    signingAlgorithm: ALGORITHM,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END PRIVATE KEY-----\n`;
  return { key, cert: cert.toString("pem") };
}

/** The process's link credentials, made on first use. */
export function tlsCredentials(): Promise<TlsCredentials> {
  cached ??= generate();
  return cached;
}

/** The server context every link listener of this process uses (TLS 1.3 only). */
export function tlsServerContext(): Promise<tls.SecureContext> {
  serverContext ??= tlsCredentials().then(({ key, cert }) => tls.createSecureContext({ key, cert, minVersion: "TLSv1.3" }));
  return serverContext;
}
