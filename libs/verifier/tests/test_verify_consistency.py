"""hocba-verify consistency: a newer checkpoint of the log extends an older one (RFC 9162), proven
with a consistency proof; a forged proof or checkpoint fails."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hocba_trust import logentry  # noqa: E402
from hocba_trust.note import Signer  # noqa: E402
from verifier_fixtures import ORIGIN, Log, filler, run, run_json, write  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.fixture
def log() -> Log:
    log = Log()
    filler(log, 13)
    return log


def consistency(log: Log, tmp_path: Path, old: str, new: str, proof: object) -> tuple[int, str]:
    return run(
        "consistency",
        write(tmp_path / "old.checkpoint", old),
        write(tmp_path / "new.checkpoint", new),
        "--proof",
        write(tmp_path / "proof.json", proof),
        "--log-key",
        log.vkey,
    )


def test_two_checkpoints_of_one_growing_log_are_consistent(log: Log, tmp_path: Path) -> None:
    code, text = consistency(log, tmp_path, log.checkpoint(5), log.checkpoint(), log.consistency(5))
    assert code == 0, text
    assert "✔ Sổ công khai nhất quán / The log is consistent" in text and "(5) →" in text
    # given newest first, the older is still the one proven to be extended
    code, _ = consistency(log, tmp_path, log.checkpoint(), log.checkpoint(5), log.consistency(5))
    assert code == 0
    code, answer = run_json(
        "consistency",
        write(tmp_path / "a", log.checkpoint(8)),
        write(tmp_path / "b", log.checkpoint(8)),
        "--proof",
        write(tmp_path / "p", {"old_size": 8, "new_size": 8, "proof": []}),
        "--log-key",
        log.vkey,
        "--log-origin",
        ORIGIN,
    )
    assert code == 0 and answer["verdict"] == "valid"


def test_a_forged_proof_or_a_rewritten_log_is_not_consistent(log: Log, tmp_path: Path) -> None:
    forged = log.consistency(5)
    forged["proof"][-1] = logentry.b64(b"\x07" * 32)
    code, text = consistency(log, tmp_path, log.checkpoint(5), log.checkpoint(), forged)
    assert code == 1 and "✘ Sổ công khai không nhất quán" in text
    rewritten = Log(log.signer)  # the same key signs a log whose first entries differ
    filler(rewritten, 2)
    filler(rewritten, 11)
    code, _ = consistency(
        log, tmp_path, log.checkpoint(5), rewritten.checkpoint(), log.consistency(5)
    )
    assert code == 1


def test_a_forged_checkpoint_fails(log: Log, tmp_path: Path) -> None:
    impostor = Log(Signer.generate(ORIGIN))
    filler(impostor, 13)
    code, text = consistency(
        log, tmp_path, log.checkpoint(5), impostor.checkpoint(), log.consistency(5)
    )
    assert code == 1 and "The checkpoint is forged or not this log's" in text
    edited = log.checkpoint().replace("\n13\n", "\n14\n")
    code, _ = consistency(log, tmp_path, log.checkpoint(5), edited, log.consistency(5))
    assert code == 1


def test_a_proof_for_other_sizes_or_no_proof_is_an_input_error(log: Log, tmp_path: Path) -> None:
    code, _ = consistency(log, tmp_path, log.checkpoint(5), log.checkpoint(), log.consistency(6))
    assert code == 3
    code, _ = run(
        "consistency",
        write(tmp_path / "a", log.checkpoint(5)),
        write(tmp_path / "b", log.checkpoint()),
        "--log-key",
        log.vkey,
    )
    assert code == 3
