"""Signatures and trust: canonical JSON, CMS/CAdES signing and verification, CRLs, Merkle batches,
a transparency log (RFC 9162 proofs) and its C2SP signed notes and checkpoints.

Shared by the services and the offline verifier; it imports nothing of the service shell
(hocba_runtime) and no development kit (hocba_devstack)."""
