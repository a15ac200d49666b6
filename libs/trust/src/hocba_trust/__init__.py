"""Signatures and trust: canonical JSON, CMS/CAdES signing and verification, CRLs, Merkle batches.

Shared by the services and the offline verifier; it imports nothing of the service shell
(hocba_runtime) and no development kit (hocba_devstack)."""
