/**
 * A fixed, throwaway self-signed TLS certificate for the suite's own listeners. link.proto TRANSPORT:
 * certificates are NOT used for authentication (identity comes from the LinkHello proof), so a
 * published key here is harmless; it only lets the suite run without generating certificates.
 */
export const SUITE_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5g8VEh2QGY58gRPy
RM97pIvu3AGs34jOZwxDK5RW5Y6hRANCAASU8CVHvuP5zOIIqk2W4DFblb5vXYGw
UzmFCTMmRX4zRFtlzpdS1i87Zzda6jmxCGhAG7kxvw2HXHsPkejW1OE+
-----END PRIVATE KEY-----
`;
export const SUITE_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBmDCCAT2gAwIBAgIUXF1gSFp7C0bmBiMraZsM5VfiV9gwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVbWVvd29uaW9uLWNvbmZvcm1hbmNlMCAXDTI2MTEyNTExNTgy
OFoYDzIxMjYxMTAxMTE1ODI4WjAgMR4wHAYDVQQDDBVtZW93b25pb24tY29uZm9y
bWFuY2UwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASU8CVHvuP5zOIIqk2W4DFb
lb5vXYGwUzmFCTMmRX4zRFtlzpdS1i87Zzda6jmxCGhAG7kxvw2HXHsPkejW1OE+
o1MwUTAdBgNVHQ4EFgQU6NQMhWldcgrgQSVpoFPZpvX1v7owHwYDVR0jBBgwFoAU
6NQMhWldcgrgQSVpoFPZpvX1v7owDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNJADBGAiEA1soT9Y5JHlTkwA+BSL9cP/sY6m0blFGfPWDKIApEZbcCIQCyHKlQ
sDxemu1t0ROteeljPvHWT7pCFDEUiEJZYpdj/w==
-----END CERTIFICATE-----
`;
