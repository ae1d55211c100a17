// @countersign/verifier: local JWS verification with cached public keys.
export {};
