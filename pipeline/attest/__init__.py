"""Evidence and EIP-712: the attestation of a run, signing and verification.

Step `generate_attestation_output`; commands `attest` and `verify`."""
