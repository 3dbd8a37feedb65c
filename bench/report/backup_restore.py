"""The section of bench/backup_restore.py."""

from __future__ import annotations

from typing import Any

from bench.report.facts import fact_lines

TITLE = "## Backup and restore (~1 GB MariaDB)"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def interval_note(interval: list[float], target: float) -> str:
    low, high = interval
    spans = " (spans the target: these runs cannot tell)" if low <= target <= high else ""
    return f"{low:.2f}-{high:.2f}x{spans}"


def thread_line(threads: list[list[Any]]) -> str:
    """Server threads' CPU seconds during a job, busiest first (those under 0.05 s left out)."""
    top = [f"{kind} {seconds:.2f}" for kind, seconds in threads if seconds >= 0.05]
    return ", ".join(top) or "none"


def _list(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def _jobs(data: dict[str, Any]) -> list[str]:
    poll_ms, subscription = data["poll_ms"], data["poll_ms"] == 0
    backup = (
        "followed as the SPA follows it: `subscription { backupProgress(id) { sequence "
        "status } }` on a graphql-transport-ws socket opened before the POST; timed from "
        "the POST to the receipt of the final event (COMPLETED; the catalog row is "
        "written before it is sent), then one `backup(id)` query for the figures"
        if subscription
        else "`backup(id) { status fileSize durationSeconds errorMessage }` every "
        f"{poll_ms} ms; timed from the POST to the poll that answers COMPLETED"
    )
    restore = (
        "followed by `restoreProgress(id)` the same way; timed from the POST to the final event"
        if subscription
        else "`restoreLogs(backupId) { items { id status errorMessage durationSeconds } }` "
        f"every {poll_ms} ms; timed from the POST to the COMPLETED poll"
    )
    return [
        "- Lumbung backup: POST `mutation { createBackup(input: {backupType: FULL}) { backup "
        "{ id filename } } }`, then "
        + backup
        + ". Lumbung also splits the dump into per-table zstd frames, hashes the file "
        "(SHA-256), fsyncs it and writes a manifest; the native pipeline does none of that.",
        "- Lumbung restore: `restoreBackup(id, confirm: FILENAME, safetyBackup: false)` (it "
        "verifies the file's and every section's SHA-256 before answering; only a restore with "
        "a safety backup checks again, after taking it), then " + restore + ".",
    ]


def _facts(data: dict[str, Any]) -> list[str]:
    dataset = data["data"]
    sql_bytes = dataset["sql_bytes"]
    files, ratios = dataset["file_mb"], dataset["compression"]
    return [
        *fact_lines(data, machine_suffix=f"; load average before the runs: {data['load']}"),
        "- Server settings: "
        + (", ".join(f"`{x}`" for x in data["settings"]) or "the defaults")
        + " (plus the database URL, JWT secret, data and backup dirs, production, log level "
        "WARNING, in a 0600 `.env`).",
        f"- Data: database `{data['database']}` of bench/bigdb.py, "
        + ", ".join(f"`{name}` {count:,} rows" for name, count in dataset["rows"].items())
        + f"; InnoDB data + indexes {dataset['innodb_mb']:.1f} MB; mariadb-dump writes "
        f"**{sql_bytes:,} bytes of SQL** ({sql_bytes / 10**6:.1f} MB; the dump alone "
        f"into `wc -c` takes {dataset['dump_s']:.2f} s); compressed: native "
        f"{files['native']:.1f} MB, Lumbung {files['Lumbung']:.1f} MB (medians; "
        f"{ratios['native']:.2f}x and {ratios['Lumbung']:.2f}x).",
        f"- MariaDB: {data['mariadb']}; warm page cache.",
        f"- Native backup: `{data['native_backup']}` (the flags Lumbung passes for a FULL "
        "backup, and the same catalog tables left out).",
        f"- Native restore: `{data['native_restore']}` (the client flags Lumbung passes).",
        *_jobs(data),
        f"- Server RSS: psutil on the uvicorn process every {data['sample_ms']:.0f} ms "
        "during each Lumbung job; idle = just before the job's POST. The tools' RSS: sampled "
        "the same way (psutil, 50 ms).",
    ]


def _run_rows(data: dict[str, Any]) -> list[str]:
    rows = [
        "| run | native backup s | Lumbung backup s | ratio | native restore s "
        "| Lumbung restore s | ratio | native file MB | Lumbung file MB "
        "| server RSS idle → peak MiB (Δ MB) | mariadb-dump peak RSS MiB (native / Lumbung) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["runs"]:
        dump = r["dump_rss_mib"]
        rows.append(
            f"| {r['run']} | {r['native_backup_s']:.2f} | {r['lumbung_backup_s']:.2f} "
            f"| {r['backup_ratio']:.2f} | {r['native_restore_s']:.2f} "
            f"| {r['lumbung_restore_s']:.2f} | {r['restore_ratio']:.2f} "
            f"| {r['native_file_mb']:.1f} | {r['lumbung_file_mb']:.1f} "
            f"| {r['rss_idle_mib']:.1f} → {r['rss_peak_mib']:.1f} ({r['rss_growth_mb']:.1f}) "
            f"| {dump['native']:.1f} / {dump['Lumbung']:.1f} |"
        )
    return rows


def _medians(data: dict[str, Any]) -> list[str]:
    rows = [
        "| work | native median s | Lumbung median s | ratio (Lumbung ÷ native) | "
        "95% interval of the ratio | target | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for work, label in (("backup", "FULL backup"), ("restore", "restore")):
        s = data["summary"][work]
        rows.append(
            f"| {label} | {s['native_s']:.2f} | {s['lumbung_s']:.2f} | **{s['ratio']:.2f}x** "
            f"| {interval_note(s['interval'], s['target'])} | ≤ {s['target']:.2f}x "
            f"| {verdict(s['ratio'] <= s['target'])} |"
        )
    return rows


def _bullets(data: dict[str, Any]) -> list[str]:
    rss, dump, follow = data["rss"], data["dump_rss_mib"], data["follow"]
    polls = "Events" if data["poll_ms"] == 0 else "Polls"
    lines = [
        f"- Server RSS during a backup: idle {rss['idle_mib']:.1f} MiB → peak "
        f"{rss['peak_mib']:.1f} MiB, **+{rss['growth_mb']:.1f} MB** (the largest growth over "
        f"the runs; target ≤ {rss['target_mb']:.0f} MB): "
        f"{verdict(rss['growth_mb'] <= rss['target_mb'])}. Right after start the server's RSS "
        f"was {rss['start_mib']:.1f} MiB; its idle RSS before each backup: "
        + ", ".join(f"{value:.1f}" for value in rss["idle_before_each_mib"])
        + f" MiB; the highest peak of any job here, {rss['highest_peak_mib']:.1f} MiB, is "
        f"+{rss['highest_over_start_mb']:.1f} MB over the RSS right after start. Peak during a "
        f"restore: {rss['restore_peak_mib']:.1f} MiB (information).",
        f"- mariadb-dump's own peak RSS: native {dump['native']:.1f} MiB, Lumbung's child "
        f"{dump['Lumbung']:.1f} MiB (sampled); zstd -3: {dump['zstd']:.1f} MiB.",
        "- Lumbung's own `durationSeconds` (job start to end, inside the server): backups "
        + _list(data["reported_s"]["backup"])
        + "; restores "
        + _list(data["reported_s"]["restore"])
        + f". {polls} per job: {follow['backup']:.0f} (backup), {follow['restore']:.0f} "
        f"(restore); one poll costs the server {data['poll_cpu_ms']['backup']:.2f} ms "
        f"(`backup`) or {data['poll_cpu_ms']['restore']:.2f} ms (`restoreLogs`) of CPU "
        f"(measured idle, {data['poll_cost_requests']} back to back).",
        f"- Correctness: `CHECKSUM TABLE {', '.join(data['checksummed'])}` after run 1's "
        "native restore and after its Lumbung restore equals the values before the first "
        f"backup: {data['checksums']}.",
    ]
    safety = data.get("safety")
    if safety is not None:
        lines.append(
            "- Default restore with its safety backup (`safetyBackup` omitted; once, "
            f"information): {safety['seconds']:.2f} s ({safety['vs_restore']:.2f}x the median "
            f"restore without it); safety backup {safety['safety_mb']:.1f} MB; server peak RSS "
            f"{safety['peak_mib']:.1f} MiB."
        )
    return lines


def job_table(jobs: list[dict[str, Any]]) -> list[str]:
    """CPU seconds of each process during each job."""
    rows = [
        "| run | job | wall s | CPU s by process | busy cores |",
        "|---:|---|---:|---|---:|",
    ]
    for job in jobs:
        parts = ", ".join(f"{name} {seconds:.2f}" for name, seconds in job["cpu"].items())
        rows.append(
            f"| {job['run']} | {job['job']} | {job['wall_s']:.2f} | {parts} "
            f"| {job['busy_cores']:.2f} |"
        )
    return rows


def _cpu(data: dict[str, Any]) -> list[str]:
    rows = [
        "### Where the CPU goes",
        "",
        "CPU seconds of each process during each job (kernel accounting: `wait4` for the native "
        "tools, psutil for the server, whose `mariadb-dump` or `mariadb` child is counted "
        "separately, and for mariadbd); `harness` is this script (polling, sampling), `other` "
        "is everything else the machine ran meanwhile. `busy cores` = all of it ÷ wall time "
        f"(the machine has {data['cpus']}).",
        "",
        *job_table(data["jobs"]),
    ]
    rows += [
        "",
        "Server threads during each Lumbung backup (CPU s, busiest first; `loop` = the main "
        "thread, i.e. the event loop answering GraphQL; `pool` = an older worker thread, the one "
        "running the dump pipeline (read, split, hash, write); `new` = started during the job: "
        "zstd's two compression workers, and in run 1 the pipeline's thread too): "
        + "; ".join(f"run {t['run']}: {thread_line(t['threads'])}" for t in data["threads"])
        + ".",
    ]
    return rows


def _info(data: dict[str, Any]) -> list[str]:
    info = data.get("info")
    if not info:
        return []
    every = info["poll_s"]
    instead = (
        "instead of followed by subscription"
        if data["poll_ms"] == 0
        else f"instead of every {data['poll_ms']} ms"
    )
    return [
        "",
        f"### Information: the same jobs polled every {every:g} s",
        "",
        f"One more round after the runs, with Lumbung's jobs polled every {every:g} s {instead} "
        "(native jobs beside them as usual); a single sample, so only a hint of what the "
        "polling itself costs.",
        "",
        "| job | native s | Lumbung s | ratio | polls | server CPU s | Lumbung s in the runs "
        "(median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['job']} | {r['native_s']:.2f} | {r['lumbung_s']:.2f} | {r['ratio']:.2f} "
            f"| {r['polls']} | {r['server_cpu_s']:.2f} | {r['runs_median_s']:.2f} |"
            for r in info["rows"]
        ),
    ]


def render(data: dict[str, Any]) -> str:
    lines = [
        TITLE,
        "",
        "Lumbung's FULL backup and its restore, through the real API (`lumbung serve`, "
        "production settings, one uvicorn worker), against the native pipelines on the same "
        "database, in the same invocation, interleaved run by run: native backup, Lumbung "
        "backup, native restore, Lumbung restore, with each pair swapped in even runs (Lumbung "
        "first), so that neither side always follows the other. Before every timed job the "
        "harness runs `sync` and waits until the machine is quiet (at most "
        f"{data['settle_max_s']:g} s), so that no job pays for the writeback of the one before "
        "it. Each restore overwrites the same database.",
        "",
        *_facts(data),
        "",
        "### Per run",
        "",
        *_run_rows(data),
        "",
        "### Medians and ratios",
        "",
        *_medians(data),
        "",
        "The interval: a paired bootstrap over the runs (10,000 resamples of whole runs, a fixed "
        "seed), i.e. how far the ratio of medians could move on this machine given how much the "
        "runs vary. The verdict is the issue's: the ratio of medians against the target.",
        "",
        *_bullets(data),
        "",
        *_cpu(data),
        *_info(data),
    ]
    if data.get("profile_note"):
        lines += ["", data["profile_note"]]
    return "\n".join(lines) + "\n"
