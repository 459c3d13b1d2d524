"""Evaluate the opt-out detector (DESIGN rules 6 and 7) and check its targets.

Run from the project root:

    python benchmarks/eval_detector.py [--corpus PATH] [--phrasings PATH] [--passes N] [--write BENCHMARKS.md]

It measures, against two data sets:

- the `ham` messages of the SMS Spam Collection (ordinary replies between people, default
  `../shared/data/sms-spam-collection.tsv` from the project root): how many are taken for an
  opt-out (false opt-outs at the auto threshold, and review-band flags), listing every flagged one;
- `benchmarks/data/opt_out_phrasings.tsv` (label, kind, text; written by hand): precision and
  recall, at the auto threshold and counting review-band hits as caught;
- throughput: messages per second on one core over the ham corpus, several timed passes.

Targets (exit status 1 when one is missed):

- false opt-outs (confidence >= 0.9) on ham: at most 1 in 2,000, not counting the ham messages
  that are genuine opt-outs (`GENUINE_HAM_OPT_OUTS`), which must be detected;
- recall on explicit requests (kinds `keyword` and `explicit`) at the auto threshold >= 99%;
- recall on all positives, counting the review band as caught, >= 97%;
- >= 50,000 messages per second on the ham corpus, best of the timed passes (as `timeit` advises:
  slower passes are other processes' doing, not the code's); the median is printed too.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from chalicelib.domain.detector import AUTO_THRESHOLD, REVIEW_THRESHOLD, detect  # noqa: E402
from chalicelib.domain.models import Intent  # noqa: E402

DEFAULT_CORPUS = PROJECT_ROOT.parent / "shared" / "data" / "sms-spam-collection.tsv"
DEFAULT_PHRASINGS = PROJECT_ROOT / "benchmarks" / "data" / "opt_out_phrasings.tsv"
SECTION = "## Opt-out detector"

#: Ham messages that are opt-outs in the sense of the FCC's 2024 order. The first two are named by
#: the data set's README (shared/data/README.md); the third asks "Please do not contact me again or
#: I will report you", which is a revocation too, so detecting it is not a false opt-out.
GENUINE_HAM_OPT_OUTS = (
    "Please don't text me anymore. I have nothing else to say.",
    "I think u have the wrong number.",
    "Any chance you might have had with me evaporated as soon as you violated my privacy by stealing my phone "
    "number from your employer's paperwork. Not cool at all. Please do not contact me again or I will report you "
    "to your supervisor.",
)
#: The two the README names: they must be detected at the auto threshold.
REQUIRED_HAM_OPT_OUTS = GENUINE_HAM_OPT_OUTS[:2]

MAX_FALSE_OPT_OUT_RATE = 1 / 2000
MIN_EXPLICIT_RECALL = 0.99
MIN_RECALL_WITH_REVIEW = 0.97
MIN_MESSAGES_PER_SECOND = 50_000
EXPLICIT_KINDS = frozenset({"keyword", "explicit"})


@dataclass(frozen=True)
class Labelled:
    label: str
    kind: str
    text: str


def read_ham(path: Path) -> list[str]:
    """The `ham` messages of the SMS Spam Collection (header `Label<TAB>SMS`)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(rows)
        return [row[1] for row in rows if row and row[0] == "ham"]


def read_phrasings(path: Path) -> list[Labelled]:
    """The hand-written labelled phrasings (header `label<TAB>kind<TAB>text`)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows)
        if header != ["label", "kind", "text"]:
            raise SystemExit(f"{path}: unexpected header {header}")
        return [Labelled(*row) for row in rows if row]


def opt_out_score(text: str) -> tuple[float, str]:
    """The detector's opt-out confidence for `text` (0 when another intent) and its reason."""
    detection = detect(text)
    return (detection.confidence if detection.intent is Intent.OPT_OUT else 0.0), detection.reason


def ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def measure_throughput(messages: list[str], passes: int) -> tuple[float, float]:
    """(median, best) messages per second over `passes` timed passes, after one warm-up pass."""
    for text in messages:
        detect(text)
    rates = []
    for _ in range(passes):
        started = time.perf_counter()
        for text in messages:
            detect(text)
        rates.append(len(messages) / (time.perf_counter() - started))
    return statistics.median(rates), max(rates)


def evaluate(corpus: Path, phrasings_path: Path, passes: int) -> tuple[list[str], list[tuple[str, bool]]]:
    """Run the evaluation; returns the report lines and (target, met) pairs."""
    ham = read_ham(corpus)
    phrasings = read_phrasings(phrasings_path)
    lines: list[str] = []
    targets: list[tuple[str, bool]] = []

    # --- ham: ordinary replies ---------------------------------------------------------------
    scored_ham = [(text, *opt_out_score(text)) for text in ham]
    flagged = [(text, score, reason) for text, score, reason in scored_ham if score >= AUTO_THRESHOLD]
    review = [(text, score, reason) for text, score, reason in scored_ham if REVIEW_THRESHOLD <= score < AUTO_THRESHOLD]
    genuine = set(GENUINE_HAM_OPT_OUTS)
    false_opt_outs = [item for item in flagged if item[0] not in genuine]
    false_rate = ratio(len(false_opt_outs), len(ham))
    detected = {text for text, _, _ in flagged}
    lines += [
        f"Ham corpus: {corpus.name}, {len(ham)} messages",
        f"- flagged at >= {AUTO_THRESHOLD}: {len(flagged)}, "
        f"of which genuine opt-outs: {len(flagged) - len(false_opt_outs)}",
        f"- false opt-outs: {len(false_opt_outs)} ({false_rate:.4%}; target <= {MAX_FALSE_OPT_OUT_RATE:.4%}, "
        f"i.e. <= {int(len(ham) * MAX_FALSE_OPT_OUT_RATE)} messages)",
        f"- review band [{REVIEW_THRESHOLD}, {AUTO_THRESHOLD}): {len(review)} ({ratio(len(review), len(ham)):.2%})",
        "- flagged ham messages:",
        *(f"  - {score:.2f} {text!r} ({reason})" for text, score, reason in flagged),
        "- review-band ham messages:",
        *(f"  - {score:.2f} {text!r} ({reason})" for text, score, reason in review),
    ]
    targets.append(
        (f"false opt-outs on ham <= 1 in 2,000 ({len(false_opt_outs)})", false_rate <= MAX_FALSE_OPT_OUT_RATE)
    )
    for text in REQUIRED_HAM_OPT_OUTS:
        targets.append((f"genuine ham opt-out detected: {text!r}", text in detected))

    # --- labelled phrasings ------------------------------------------------------------------
    scored = [(item, *opt_out_score(item.text)) for item in phrasings]
    positives = [(item, score, reason) for item, score, reason in scored if item.label == "opt_out"]
    negatives = [(item, score, reason) for item, score, reason in scored if item.label == "none"]
    explicit = [entry for entry in positives if entry[0].kind in EXPLICIT_KINDS]
    auto_hits = [entry for entry in positives if entry[1] >= AUTO_THRESHOLD]
    review_hits = [entry for entry in positives if entry[1] >= REVIEW_THRESHOLD]
    explicit_auto = [entry for entry in explicit if entry[1] >= AUTO_THRESHOLD]
    explicit_review = [entry for entry in explicit if entry[1] >= REVIEW_THRESHOLD]
    negatives_auto = [entry for entry in negatives if entry[1] >= AUTO_THRESHOLD]
    negatives_review = [entry for entry in negatives if REVIEW_THRESHOLD <= entry[1] < AUTO_THRESHOLD]
    precision_auto = ratio(len(auto_hits), len(auto_hits) + len(negatives_auto))
    flagged_any = len(review_hits) + len(negatives_auto) + len(negatives_review)
    precision_review = ratio(len(review_hits), flagged_any)
    recall_explicit = ratio(len(explicit_auto), len(explicit))
    recall_with_review = ratio(len(review_hits), len(positives))
    kinds = sorted({item.kind for item, _, _ in positives})
    lines += [
        "",
        f"Labelled phrasings: {phrasings_path.name}, {len(positives)} opt-outs, {len(negatives)} hard negatives",
        f"- precision at >= {AUTO_THRESHOLD}: {precision_auto:.2%}; counting review flags: {precision_review:.2%}",
        f"- recall, explicit requests ({len(explicit)}): {recall_explicit:.2%} at >= {AUTO_THRESHOLD}, "
        f"{ratio(len(explicit_review), len(explicit)):.2%} counting review",
        f"- recall, all opt-outs ({len(positives)}): "
        f"{ratio(len(auto_hits), len(positives)):.2%} at >= {AUTO_THRESHOLD}, "
        f"{recall_with_review:.2%} counting review",
        *(
            f"  - {kind}: {ratio(sum(s >= AUTO_THRESHOLD for i, s, _ in positives if i.kind == kind), count):.2%} "
            f"auto, {ratio(sum(s >= REVIEW_THRESHOLD for i, s, _ in positives if i.kind == kind), count):.2%} "
            f"with review (n={count})"
            for kind in kinds
            for count in [sum(1 for item, _, _ in positives if item.kind == kind)]
        ),
        f"- review band: {len(review_hits) - len(auto_hits)} opt-outs, {len(negatives_review)} hard negatives",
        f"- hard negatives taken for opt-outs at >= {AUTO_THRESHOLD}: {len(negatives_auto)}",
        *(f"  - {score:.2f} {item.text!r} ({reason})" for item, score, reason in negatives_auto),
        "- opt-outs missed (below the review band):",
        *(f"  - {score:.2f} [{item.kind}] {item.text!r}" for item, score, _ in positives if score < REVIEW_THRESHOLD),
        "- opt-outs only in the review band:",
        *(
            f"  - {score:.2f} [{item.kind}] {item.text!r} ({reason})"
            for item, score, reason in positives
            if REVIEW_THRESHOLD <= score < AUTO_THRESHOLD
        ),
        "- hard negatives in the review band:",
        *(f"  - {score:.2f} {item.text!r} ({reason})" for item, score, reason in negatives_review),
    ]
    targets.append(
        (f"recall on explicit requests >= 99% ({recall_explicit:.2%})", recall_explicit >= MIN_EXPLICIT_RECALL)
    )
    targets.append(
        (
            f"recall on all opt-outs with review >= 97% ({recall_with_review:.2%})",
            recall_with_review >= MIN_RECALL_WITH_REVIEW,
        )
    )

    # --- throughput ----------------------------------------------------------------------------
    median, best = measure_throughput(ham, passes)
    # The phrasings are nearly all about stopping, so every rule runs: a pessimistic mix.
    phrasings_median, phrasings_best = measure_throughput([item.text for item in phrasings], passes)
    lines += [
        "",
        f"Throughput, one core, {passes} timed passes after a warm-up:",
        f"- ham corpus: median {median:,.0f} messages/s, best {best:,.0f} messages/s",
        f"- labelled phrasings (opt-out words in nearly every message): median {phrasings_median:,.0f} messages/s, "
        f"best {phrasings_best:,.0f} messages/s",
    ]
    targets.append((f">= 50,000 messages/s (best pass {best:,.0f})", best >= MIN_MESSAGES_PER_SECOND))
    return lines, targets


def machine_facts() -> str:
    return (
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.platform()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )


def write_section(path: Path, lines: list[str], targets: list[tuple[str, bool]]) -> None:
    """Write or replace the `## Opt-out detector` section of the Markdown file at `path`."""
    body = [
        SECTION,
        "",
        f"Measured by `python benchmarks/eval_detector.py` on {machine_facts()}.",
        "",
        "```text",
        *lines,
        "```",
        "",
        "Targets:",
        "",
        *(f"- [{'x' if met else ' '}] {name}" for name, met in targets),
        "",
    ]
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    start = text.find(SECTION + "\n")
    if start == -1:
        new_text = text.rstrip("\n") + "\n\n" + "\n".join(body)
    else:
        following = text.find("\n## ", start + len(SECTION))
        rest = text[following + 1 :] if following != -1 else ""
        new_text = text[:start] + "\n".join(body) + ("\n" + rest if rest else "")
    path.write_text(new_text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the SMS Spam Collection TSV")
    parser.add_argument("--phrasings", type=Path, default=DEFAULT_PHRASINGS, help="the labelled phrasings TSV")
    parser.add_argument("--passes", type=int, default=7, help="timed passes over the ham corpus")
    parser.add_argument("--write", type=Path, help="Markdown file whose '## Opt-out detector' section to replace")
    args = parser.parse_args(argv)

    lines, targets = evaluate(args.corpus, args.phrasings, args.passes)
    print("\n".join(lines))
    print("\nTargets:")
    for name, met in targets:
        print(f"  {'ok  ' if met else 'MISS'} {name}")
    print(f"\n{machine_facts()}")
    if args.write:
        write_section(args.write, lines, targets)
        print(f"wrote the '{SECTION}' section of {args.write}")
    return 0 if all(met for _, met in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
