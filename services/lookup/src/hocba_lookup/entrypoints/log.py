"""The transparency log, served publicly: checkpoints, entries and proofs as publishing keeps them.
Nothing here is taken on trust: a verifier checks every answer against the log's key and the
checkpoints it already holds (hocba_trust.logentry, the offline verifier). Answers for fixed sizes
and indexes never change, so any cache may keep them; the latest checkpoint and a document's
bundle change within seconds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from hocba_contracts.payloads.common import Code

from hocba_lookup.application.ports import LogAnswer, LogSource

router = APIRouter(tags=["transparency log"])

FRESH = "public, max-age=1"
FOREVER = "public, max-age=31536000, immutable"


def _source(request: Request) -> LogSource:
    return request.app.state.log  # type: ignore[no-any-return]


Source = Annotated[LogSource, Depends(_source)]
Size = Annotated[int, Query(ge=0, le=2**63 - 1)]
Index = Annotated[int, Path(ge=0, le=2**63 - 1)]


def _answer(answer: LogAnswer, cache: str) -> Response:
    headers = {"Cache-Control": cache if answer.status == 200 else "no-store"}
    return Response(answer.body, answer.status, headers=headers, media_type=answer.media_type)


@router.get(
    "/log/checkpoint",
    summary="The latest signed checkpoint (c2sp.org/tlog-checkpoint), as text",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def checkpoint(source: Source) -> Response:
    return _answer(await source.get("/log/checkpoint"), FRESH)


@router.get(
    "/log/key",
    summary="The log's verifier key (c2sp.org/signed-note); pin the one your city publishes",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def key(source: Source) -> Response:
    return _answer(await source.get("/log/key"), FRESH)


@router.get("/log/entries/{index}", summary="One entry of the log", response_class=Response)
async def entry(index: Index, source: Source) -> Response:
    return _answer(await source.get(f"/log/entries/{index}"), FOREVER)


@router.get(
    "/log/proof/inclusion",
    summary="Inclusion proof of entry `index` in the tree of `size` entries (RFC 9162)",
    response_class=Response,
)
async def inclusion(index: Size, size: Size, source: Source) -> Response:
    answer = await source.get("/log/proof/inclusion", {"index": index, "size": size})
    return _answer(answer, FOREVER)


@router.get(
    "/log/proof/consistency",
    summary="Consistency proof between the trees of `old` and `new` entries (RFC 9162)",
    response_class=Response,
)
async def consistency(old: Size, new: Size, source: Source) -> Response:
    answer = await source.get("/log/proof/consistency", {"old": old, "new": new})
    return _answer(answer, FOREVER)


@router.get(
    "/log/documents/{document_id}",
    summary="A document's log entries, their inclusion proofs and the checkpoint they prove "
    "against: what the offline verifier checks (`hocba-verify --lookup`)",
    response_class=Response,
)
async def document(document_id: Code, source: Source) -> Response:
    return _answer(await source.get(f"/log/documents/{document_id}"), FRESH)
