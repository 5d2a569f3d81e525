"""Benchmark reftrack's analyzer against a librosa-only pipeline and an Essentia pipeline, on the same files.

Every system runs in its own process (so peak memory is its own), warm: one process analyses every file. The
report gives, per system: median seconds per file on the corpus, median seconds for a 3-minute 44.1 kHz stereo
track, the ratio to reftrack, peak RSS, and accuracy against the corpus manifest (tempo Accuracy1/2, beat
F-measure, key MIREX weighted score, with mir_eval); loudness error against pyloudnorm; reftrack's memory on a
10- and a 60-minute stereo file; and a cold ``reftrack analyze`` in a fresh process.

    uv run --group bench python bench/run.py                  # everything, writes bench/RESULTS.md
    uv run --group bench python bench/run.py --quick          # corpus accuracy and speed only

The corpus defaults to ``../shared/corpus/dev``; the peer pipelines are the reference scripts in
``../shared/bench``. Essentia is a benchmark-only dependency (AGPL) and never imported by reftrack itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import runpy
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DEFAULT_CORPUS = SHARED / "corpus" / "dev"
DEFAULT_PEERS = SHARED / "bench"
SYSTEMS = ("reftrack", "librosa", "essentia")
SPEED_RUNS = 5


def peak_rss_mb() -> float:
    """This process's own peak resident set (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- workers: one per system, in a child process ---------------------------------------------------------


def _reftrack_runner() -> Any:
    from reftrack_cli.main import analyze_file

    def run(path: str) -> dict[str, Any]:
        return analyze_file(Path(path))

    return run


def _peer_runner(peers: Path, name: str) -> Any:
    module = runpy.run_path(str(peers / f"{name}_baseline.py"))

    def run(path: str) -> dict[str, Any]:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            module["main"](path)
        record: dict[str, Any] = json.loads(buf.getvalue())
        record["path"] = path
        if "lufs" in record:
            record["lufs_integrated"] = record["lufs"]
        return record

    return run


def worker(args: argparse.Namespace) -> None:
    run = _reftrack_runner() if args.worker == "reftrack" else _peer_runner(Path(args.peers), args.worker)
    files = json.loads(Path(args.files).read_text())
    out = Path(args.out)
    with out.open("w") as sink:
        for path in files:
            started = time.perf_counter()
            try:
                record = run(path)
            except Exception as exc:  # a peer that cannot read a file reports it, like reftrack does
                record = {"path": path, "error": repr(exc)}
            record["wall_s"] = time.perf_counter() - started
            sink.write(json.dumps(record) + "\n")
            sink.flush()
    speed: list[float] = []
    if args.speed_file:
        run(args.speed_file)
        for _ in range(SPEED_RUNS):
            started = time.perf_counter()
            run(args.speed_file)
            speed.append(time.perf_counter() - started)
    summary = {"system": args.worker, "speed_s": speed, "peak_rss_mb": peak_rss_mb()}
    Path(args.summary).write_text(json.dumps(summary))


# --- the parent: prepare files, run workers, score, report -----------------------------------------------


def make_long_track(source: Path, target: Path, minutes: int) -> Path:
    """Tile a 3-minute track to ``minutes`` minutes, writing block by block."""
    import soundfile as sf

    if target.exists():
        return target
    info = sf.info(str(source))
    needed = minutes * 60 * info.samplerate
    with sf.SoundFile(str(target), "w", samplerate=info.samplerate, channels=info.channels, subtype="PCM_16") as out:
        written = 0
        while written < needed:
            for block in sf.blocks(str(source), blocksize=1 << 18, dtype="float32", always_2d=True):
                block = block[: needed - written]
                out.write(block)
                written += len(block)
                if written >= needed:
                    break
    return target


def spawn_worker(system: str, files: list[str], workdir: Path, peers: Path, speed_file: Path | None) -> dict[str, Any]:
    files_json = workdir / f"{system}.files.json"
    files_json.write_text(json.dumps(files))
    out = workdir / f"{system}.jsonl"
    summary = workdir / f"{system}.summary.json"
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        system,
        "--files",
        str(files_json),
        "--out",
        str(out),
        "--summary",
        str(summary),
        "--peers",
        str(peers),
    ]
    if speed_file is not None:
        cmd += ["--speed-file", str(speed_file)]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads(summary.read_text())
    result["total_s"] = time.perf_counter() - started
    result["records"] = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    result["jsonl"] = str(out)
    return result


def downbeat_f(manifest: list[dict[str, Any]], corpus: Path, records: list[dict[str, Any]]) -> tuple[int, float]:
    import mir_eval
    import numpy as np

    by_name = {Path(r["path"]).name: r for r in records}
    scores = []
    for item in manifest:
        record = by_name.get(Path(item["file"]).name)
        if not item.get("downbeats") or record is None or record.get("downbeats") is None:
            continue
        ref = np.loadtxt(corpus / item["downbeats"], ndmin=1)
        ref = ref[:, 0] if ref.ndim > 1 else ref
        est = np.asarray(record["downbeats"], dtype=float)
        ref, est = mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est)
        scores.append(mir_eval.beat.f_measure(ref, est) if len(ref) else 0.0)
    return len(scores), 100 * float(np.mean(scores)) if scores else float("nan")


def loudness_errors(records: list[dict[str, Any]], *, filter_class: str = "K-weighting") -> list[float]:
    """|reported integrated loudness - pyloudnorm| per file (LU).

    pyloudnorm's default "K-weighting" filters approximate BS.1770's (0.05 LU at 44.1 kHz, 0.09 at 22.05 kHz);
    "DeMan" computes the exact filters for any rate.
    """
    import numpy as np
    import pyloudnorm

    from analysis.io import load

    errors = []
    for record in records:
        reported = record.get("lufs_integrated")
        if reported is None or record.get("error"):
            continue
        decoded = load(Path(record["path"]))
        meter = pyloudnorm.Meter(decoded.sr, filter_class=filter_class)
        reference = meter.integrated_loudness(np.ascontiguousarray(decoded.samples.T, dtype=np.float64))
        if np.isfinite(reference):
            errors.append(abs(float(reported) - float(reference)))
    return errors


def libebur128_errors(records: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """|integrated LUFS - libebur128| and |true peak - libebur128's 4x-oversampled true peak| per file (LU, dB).

    libebur128 is the EBU R128 reference library behind ffmpeg's ebur128 filter: exact BS.1770-4 filters, gating
    on complete 400 ms blocks only, and true peak by polyphase 4x oversampling (below 96 kHz).
    """
    import numpy as np
    from pyebur128 import MeasurementMode, R128State, get_loudness_global, get_true_peak

    from analysis.io import load

    lufs_errors, peak_errors = [], []
    for record in records:
        if record.get("error") or record.get("lufs_integrated") is None:
            continue
        decoded = load(Path(record["path"]))
        channels, n = decoded.samples.shape
        state = R128State(channels, decoded.sr, MeasurementMode.MODE_I | MeasurementMode.MODE_TRUE_PEAK)
        state.add_frames(np.ascontiguousarray(decoded.samples.T, dtype=np.float64).reshape(-1), n)
        lufs_errors.append(abs(float(record["lufs_integrated"]) - get_loudness_global(state)))
        if record.get("true_peak_dbtp") is not None:
            peak = max(get_true_peak(state, c) for c in range(channels))
            peak_errors.append(abs(float(record["true_peak_dbtp"]) - 20.0 * float(np.log10(max(peak, 1e-12)))))
    return lufs_errors, peak_errors


def cold_start(path: Path, runs: int = 3) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "reftrack_cli.main", "analyze", str(path)],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - started)
    return times


def memory_run(path: Path) -> dict[str, Any]:
    code = (
        "import json, sys, time; from pathlib import Path; "
        "sys.path.insert(0, '.'); from bench.run import peak_rss_mb; "
        "from reftrack_cli.main import analyze_file; t = time.perf_counter(); "
        f"r = analyze_file(Path({str(path)!r})); "
        "print(json.dumps({'seconds': time.perf_counter() - t, 'peak_rss_mb': peak_rss_mb(), 'error': r.get('error')}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--peers", type=Path, default=DEFAULT_PEERS)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="skip the memory and cold-start runs")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--summary", help=argparse.SUPPRESS)
    parser.add_argument("--speed-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    manifest_path = args.corpus / "manifest.json"
    if not manifest_path.exists():
        sys.exit(f"no corpus manifest at {manifest_path}")
    manifest = json.loads(manifest_path.read_text())
    files = [str(args.corpus / item["file"]) for item in manifest]
    args.workdir.mkdir(parents=True, exist_ok=True)
    synth = args.workdir / "synth_3min.wav"
    if not synth.exists():
        subprocess.run([sys.executable, str(args.peers / "make_synth.py"), str(synth)], check=True)

    score = runpy.run_path(str(args.peers / "score.py"))["score"]
    rows: dict[str, dict[str, Any]] = {}
    for system in args.systems.split(","):
        print(f"running {system} ...", file=sys.stderr, flush=True)
        result = spawn_worker(system, files, args.workdir, args.peers, synth)
        accuracy = score(str(manifest_path), result["jsonl"])
        n_down, down_f = downbeat_f(manifest, args.corpus, result["records"])
        lufs = loudness_errors(result["records"])
        lufs_exact = loudness_errors(result["records"], filter_class="DeMan")
        lufs_ebu, peak_ebu = libebur128_errors(result["records"])
        rows[system] = {
            **accuracy,
            "per_file_s": statistics.median(r["wall_s"] for r in result["records"]),
            "speed_s": statistics.median(result["speed_s"]) if result["speed_s"] else float("nan"),
            "peak_rss_mb": result["peak_rss_mb"],
            "downbeat_f": down_f,
            "n_downbeats": n_down,
            "lufs_max_err": max(lufs) if lufs else float("nan"),
            "lufs_max_err_exact": max(lufs_exact) if lufs_exact else float("nan"),
            "lufs_n": len(lufs),
            "lufs_max_err_ebu": max(lufs_ebu) if lufs_ebu else float("nan"),
            "tp_max_err_ebu": max(peak_ebu) if peak_ebu else float("nan"),
        }

    extra: dict[str, Any] = {}
    if not args.quick and "reftrack" in rows:
        print("memory and cold start ...", file=sys.stderr, flush=True)
        long10 = make_long_track(synth, args.workdir / "synth_10min.wav", 10)
        long60 = make_long_track(synth, args.workdir / "synth_60min.wav", 60)
        extra["mem10"] = memory_run(long10)
        extra["mem60"] = memory_run(long60)
        extra["cold"] = cold_start(synth)

    report = render(rows, extra, n_files=len(files))
    print(report)
    args.results.write_text(report)


def render(rows: dict[str, dict[str, Any]], extra: dict[str, Any], *, n_files: int) -> str:
    base = rows.get("reftrack", {})
    lines = [
        "# Benchmark results",
        "",
        f"`uv run --group bench python bench/run.py` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores. "
        f"Corpus: the dev corpus ({n_files} files with human annotations). Speed: median of {SPEED_RUNS} warm runs "
        "on a 3-minute 44.1 kHz stereo track (decode included); corpus time is the median per file.",
        "",
        "| system | 3-min track (s) | × reftrack | corpus s/file | peak RSS (MB) | tempo Acc1 | tempo Acc2 "
        "| beat F | downbeat F | key weighted | key exact | LUFS err vs pyloudnorm | same, exact filters "
        "| LUFS err vs libebur128 | true-peak err vs libebur128 (dB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        ratio = row["speed_s"] / base["speed_s"] if base.get("speed_s") else float("nan")
        lines.append(
            f"| {name} | {fmt(row['speed_s'], 2)} | {fmt(ratio, 1)} | {fmt(row['per_file_s'], 2)} "
            f"| {fmt(row['peak_rss_mb'], 0)} | {fmt(row['acc1'])} | {fmt(row['acc2'])} | {fmt(row['beat_f'])} "
            f"| {fmt(row['downbeat_f'])} | {fmt(row['key_weighted'])} | {fmt(row['key_exact'])} "
            f"| {fmt(row['lufs_max_err'], 3)} | {fmt(row['lufs_max_err_exact'], 3)} "
            f"| {fmt(row['lufs_max_err_ebu'], 3)} | {fmt(row['tp_max_err_ebu'], 3)} |"
        )
    lines += [
        "",
        "Accuracy with mir_eval: tempo Accuracy1 (±4 %) and Accuracy2 (also ×2, ×3, ×½, ×⅓); beat and downbeat "
        "F-measure (70 ms, first 5 s trimmed); key MIREX weighted score. Loudness and true-peak errors are the "
        "largest over the corpus files, against three references: pyloudnorm's default K-weighting (its shelf "
        "sits at 1500 Hz instead of BS.1770's 1682 Hz: 0.045 LU low at 44.1 kHz, 0.09 at 22.05 kHz), pyloudnorm "
        "with exact filters (filter_class='DeMan'; it still rounds the number of 400 ms gating blocks up, so a "
        "clip's last, partial block counts as a whole one), and libebur128 (the EBU R128 reference library behind "
        "ffmpeg's ebur128 filter; its true peak oversamples 4× below 96 kHz).",
    ]
    if extra:
        cold = extra["cold"]
        lines += [
            "",
            "| reftrack | seconds | peak RSS (MB) |",
            "|---|---|---|",
            *(
                f"| {minutes}-minute stereo track | {fmt(extra[key]['seconds'], 2)} "
                f"| {fmt(extra[key]['peak_rss_mb'], 0)} |"
                for minutes, key in ((10, "mem10"), (60, "mem60"))
            ),
            f"| fresh `reftrack analyze` of the 3-minute track (median of {len(cold)}, imports included) "
            f"| {fmt(statistics.median(cold), 2)} | |",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
