"""Rendering off the event loop: WeasyPrint and the seal are CPU-bound and hold the GIL, so a
process renders on every core it is given (`processes`, default one per core), each child holding
its own renderer, built once by `make_renderer` from picklable settings. `processes=1` renders in
one thread of the service's own process instead (tests, and small deployments)."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hocba_trust.keys import KeyDirectory
from pydantic import SecretStr

from hocba_publishing.adapters.pades import PadesSealer, SealingRenderer, ValidationData
from hocba_publishing.adapters.weasyprint_renderer import WeasyPrintRenderer
from hocba_publishing.application.ports import PdfRenderer


@dataclass(frozen=True)
class SealSettings:
    """What a render process needs to seal, picklable: the PKCS#11 token of the schools' seals
    and its PIN, the directory of their certificates, the validation data's trust roots and CRL
    files, the time-stamping authority (B-LTA) if any and, in development only, the CA that
    certifies a seal made on demand."""

    pkcs11_library: str
    token_label: str
    pin: SecretStr
    certificates_dir: str
    trust_roots: tuple[str, ...]
    crl_files: tuple[str, ...]
    tsa_url: str | None = None
    dev_ca_url: str | None = None


def make_sealer(seal: SealSettings) -> PadesSealer:
    from hocba_trust.dev_ca import DevCAClient

    from hocba_publishing.adapters.pkcs11_seal import TokenSeals

    keys = TokenSeals(
        seal.pkcs11_library,
        seal.token_label,
        seal.pin.get_secret_value(),
        KeyDirectory(Path(seal.certificates_dir)),
        DevCAClient(seal.dev_ca_url) if seal.dev_ca_url else None,
    )
    return PadesSealer(keys, ValidationData(seal.trust_roots, seal.crl_files), seal.tsa_url)


def make_renderer(lookup_public_url: str, seal: SealSettings | None = None) -> PdfRenderer:
    """The official PDF's renderer: WeasyPrint, sealed (PAdES) with each record's school's seal
    when a seal is configured. Built in each render process: its token session, signers, font
    and validation context are that process's own."""
    renderer: PdfRenderer = WeasyPrintRenderer(lookup_public_url)
    if seal is not None:
        renderer = SealingRenderer(renderer, make_sealer(seal))
    return renderer


_child: PdfRenderer | None = None
"""The renderer of a pool's child process, built once when the child starts."""


def _start_child(factory: Callable[[], PdfRenderer]) -> None:
    global _child
    _child = factory()


def _render_in_child(args: tuple[dict[str, Any], str, str, list[dict[str, Any]]]) -> bytes:
    assert _child is not None, "the pool's initializer builds the renderer"
    return _child.render(*args)


class PooledRenderer:
    """AsyncPdfRenderer over a pool of processes (or one thread, for `processes=1`)."""

    def __init__(self, factory: Callable[[], PdfRenderer], processes: int = 0) -> None:
        self.processes = processes or os.cpu_count() or 1
        self._factory = factory
        self._executor: Executor | None = None
        self._local: PdfRenderer | None = None

    def _pool(self) -> Executor:
        if self._executor is None:
            if self.processes == 1:
                self._local = self._factory()
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="pdf")
            else:
                # forkserver: children start from a clean process, not a fork of one running an
                # event loop, Kafka and MongoDB clients and their threads
                self._executor = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("forkserver"),
                    initializer=_start_child,
                    initargs=(self._factory,),
                )
        return self._executor

    async def render(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: list[dict[str, Any]],
    ) -> bytes:
        pool = self._pool()
        loop = asyncio.get_running_loop()
        args = (document, document_id, content_sha256, signatures)
        if self._local is not None:
            return await loop.run_in_executor(pool, functools.partial(self._local.render, *args))
        return await loop.run_in_executor(pool, _render_in_child, args)

    def pids(self) -> list[int]:
        """The render processes' ids (none for a thread), for measuring them."""
        processes = getattr(self._executor, "_processes", None) or {}
        return list(processes)

    async def close(self) -> None:
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
            self._executor = None
