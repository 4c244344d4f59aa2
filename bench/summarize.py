#!/usr/bin/python3
"""Summarises a bench/run measurement file: medians, ratios, Markdown.

usage: bench/summarize.py RAW.jsonl INFO.json OUT.json OUT.md
RAW holds one JSON object per measurement (bench/run's record), INFO the
machine and versions. Exit 1 when a contain run failed its check."""
import json, statistics, sys
raw, info_path, jout, mout = sys.argv[1:5]
rows = [json.loads(l) for l in open(raw)]


def med(xs):
    """Median of xs, None when empty."""
    return statistics.median(xs) if xs else None


info = json.load(open(info_path))
info.setdefault("load_end", "?")
info.setdefault("bench_s", "?")
summary = {"info": info, "contain": {}, "identify": {}}
md = ["# spamstop benchmark %s" % info["date"], "",
      "Machine: %(nproc)s cores (%(cpu)s), %(mem_mb)s MB; load at start %(load_start)s, "
      "at end %(load_end)s; %(bench_s)s s in all. %(spamstop)s, libssh %(libssh)s, OpenSSH %(openssh)s, "
      "Postfix %(postfix)s, %(ansible)s." % info, ""]
bad = [r for r in rows if r.get("part") in ("contain", "single", "scale")
       and (r["check"] != "ok" or r["rc"] != 0)]
for part, title in (("contain", "time to contain"), ("single", "one host")):
    pr = [r for r in rows if r.get("part") == part]
    if not pr:
        continue
    n = pr[0]["hosts"]
    md += ["## %s: %d host(s), %d messages each, median of %d" %
           (title, n, info["messages"], info["runs"]), "",
           "| tool | median s | min s | max s | runs | ok | peak RSS MB | vs floor | vs spamstop "
           "| mail down s (median host) | mail down s (worst host) "
           "| contained s (median host) | contained s (last host) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    tools = {}
    for r in pr:
        tools.setdefault(r["tool"], []).append(r)
    # Medians over the runs that contained every host; failures listed below.
    runs_of = {t: len(rs) for t, rs in tools.items()}
    good = {t: [r for r in rs if r["check"] == "ok" and r["rc"] == 0]
            for t, rs in tools.items()}
    tools = {t: rs for t, rs in good.items() if rs}
    meds = {t: med([r["wall_s"] for r in rs]) for t, rs in tools.items()}
    for t, rs in tools.items():
        w = [r["wall_s"] for r in rs]
        ok = len(rs)
        rss = max(r["rss_kb"] for r in rs) / 1024
        vf = meds[t] / meds["floor"] if meds.get("floor") else None
        vs = meds[t] / meds["spamstop"] if meds.get("spamstop") else None
        summary["contain"].setdefault(part, {})[t] = {
            "hosts": n, "median_s": meds[t], "min_s": min(w), "max_s": max(w),
            "runs": runs_of[t], "ok": ok, "peak_rss_kb": max(r["rss_kb"] for r in rs),
            "vs_floor": vf, "vs_spamstop": vs,
            "steps_ms": [r["steps_ms"] for r in rs if r.get("steps_ms")]}
        # mail down: median over the runs of each run's median / worst host
        dm = [r["maildown_median_s"] for r in rs if r.get("maildown_median_s", -1) >= 0]
        dx = [r["maildown_max_s"] for r in rs if r.get("maildown_max_s", -1) >= 0]
        summary["contain"][part][t]["maildown_median_s"] = med(dm) if dm else None
        summary["contain"][part][t]["maildown_max_s"] = med(dx) if dx else None
        # time to containment: the same, over runs where every host had one
        cm = [r["contained_median_s"] for r in rs if r.get("contained_median_s", -1) >= 0]
        cx = [r["contained_last_s"] for r in rs if r.get("contained_last_s", -1) >= 0]
        summary["contain"][part][t]["contained_median_s"] = med(cm) if cm else None
        summary["contain"][part][t]["contained_last_s"] = med(cx) if cx else None
        md.append("| %s | %.2f | %.2f | %.2f | %d | %d | %.1f | %s | %s | %s | %s | %s | %s |" % (
            t, meds[t], min(w), max(w), runs_of[t], ok, rss,
            "%.2fx" % vf if vf else "-", "%.2fx" % vs if vs else "-",
            "%.2f" % med(dm) if dm else "-", "%.2f" % med(dx) if dx else "-",
            "%.2f" % med(cm) if cm else "-", "%.2f" % med(cx) if cx else "-"))
    md.append("")
c, s = summary["contain"].get("contain", {}), summary["contain"].get("single", {})
if c and s:
    md += ["## parallel efficiency (%d hosts / 1 host, ideal 1.0)" % info["hosts"], "",
           "| tool | ratio |", "|---|---|"]
    summary["parallel_ratio"] = {}
    for t in c:
        if t in s:
            summary["parallel_ratio"][t] = c[t]["median_s"] / s[t]["median_s"]
            md.append("| %s | %.2f |" % (t, summary["parallel_ratio"][t]))
    md.append("")
ir = [r for r in rows if r.get("part") == "identify"]
if ir:
    md += ["## identify on one host (median of %d)" % info["runs"], "",
           "| messages | spamstop identify s (whole pass) | pass after it, reusing it s "
           "| same script on host s | postcat -e on host s "
           "| postcat -e over ssh s | one exec per message s (extrapolated) | vs postcat floor | per-message / spamstop |",
           "|---|---|---|---|---|---|---|---|---|"]
    for n in sorted({r["messages"] for r in ir}):
        rs = [r for r in ir if r["messages"] == n]
        pm = [r for r in rows if r.get("part") == "per_message" and r["messages"] == n]
        e = {"spamstop_s": med([r["spamstop_identify_ms"] / 1000 for r in rs]),
             "script_on_host_s": med([r["script_on_host_s"] for r in rs]),
             "postcat_on_host_s": med([r["postcat_on_host_s"] for r in rs]),
             "postcat_over_ssh_s": med([r["postcat_over_ssh_s"] for r in rs]),
             "spamstop_bytes": rs[0]["spamstop_identify_bytes"],
             "postcat_bytes": rs[0]["postcat_bytes"],
             "per_message_extrapolated_s": pm[0]["extrapolated_s"] if pm else None,
             "per_message_sample": pm[0]["sample"] if pm else None}
        # runs before the survey/identify split have no reuse figure
        e["reuse_s"] = (med([r["spamstop_reuse_ms"] / 1000 for r in rs])
                        if all("spamstop_reuse_ms" in r for r in rs) else None)
        e["vs_floor"] = e["spamstop_s"] / e["postcat_on_host_s"]
        e["per_message_vs_spamstop"] = (e["per_message_extrapolated_s"] / e["spamstop_s"]
                                        if pm else None)
        summary["identify"][str(n)] = e
        md.append("| %d | %.3f | %s | %.3f | %.3f | %.3f | %s | %.2fx | %s |" % (
            n, e["spamstop_s"], "%.3f" % e["reuse_s"] if e["reuse_s"] is not None else "-",
            e["script_on_host_s"], e["postcat_on_host_s"],
            e["postcat_over_ssh_s"],
            "%.1f (sample %d)" % (e["per_message_extrapolated_s"], e["per_message_sample"]) if pm else "-",
            e["vs_floor"], "%.0fx" % e["per_message_vs_spamstop"] if pm else "-"))
    md.append("")
pr = [r for r in rows if r.get("part") == "parse"]
if pr:
    md += ["## parser (identify output parsed and analysed on the controller)", "",
           "| messages | bytes | median s | MB/s | instructions/byte (callgrind) |",
           "|---|---|---|---|---|"]
    summary["parse"] = {}
    for n in sorted({r["messages"] for r in pr}):
        rs = [r for r in pr if r["messages"] == n]
        cg = [r for r in rows if r.get("part") == "callgrind" and r["messages"] == n]
        m = med([r["parse_s"] for r in rs])
        e = {"bytes": rs[0]["bytes"], "median_s": m,
             "mb_per_s": rs[0]["bytes"] / m / 1e6 if m > 0 else None,
             "ir_per_byte": cg[0]["ir_per_byte"] if cg else None}
        summary["parse"][str(n)] = e
        md.append("| %d | %d | %.4f | %s | %s |" % (
            n, e["bytes"], m, "%.0f" % e["mb_per_s"] if e["mb_per_s"] else "-",
            e["ir_per_byte"] if cg else "-"))
    md.append("")
sc = [r for r in rows if r.get("part") == "scale" and r["check"] == "ok" and r["rc"] == 0]
if sc:
    md += ["## scale: wall time and peak RSS by number of hosts (%d messages each)" %
           info["messages"], "",
           "| tool | hosts | runs | median s | vs 1 host | peak RSS MB | RSS per extra host MB |",
           "|---|---|---|---|---|---|---|"]
    summary["scale"] = {}
    for t in sorted({r["tool"] for r in sc}):
        by = {}
        for r in sc:
            if r["tool"] == t:
                by.setdefault(r["hosts"], []).append(r)
        one = med([r["wall_s"] for r in by[1]]) if 1 in by else None
        rss1 = max(r["rss_kb"] for r in by[1]) if 1 in by else None
        for n in sorted(by):
            w = med([r["wall_s"] for r in by[n]])
            rss = max(r["rss_kb"] for r in by[n])
            per = (rss - rss1) / (n - 1) / 1024 if rss1 is not None and n > 1 else None
            summary["scale"].setdefault(t, {})[str(n)] = {
                "median_s": w, "runs": len(by[n]), "peak_rss_kb": rss,
                "vs_one_host": w / one if one else None, "rss_per_extra_host_mb": per}
            md.append("| %s | %d | %d | %.2f | %s | %.1f | %s |" % (
                t, n, len(by[n]), w, "%.2fx" % (w / one) if one else "-", rss / 1024,
                "%.2f" % per if per is not None else "-"))
    md.append("")
summary["failures"] = bad
if bad:
    md += ["## failed runs", ""] + ["- %s %s round %s: rc %s, %s" % (
        r["part"], r["tool"], r["round"], r["rc"], r["check"]) for r in bad] + [""]
md += ["Raw measurements: %s" % raw.split("/")[-1], ""]
json.dump(summary, open(jout, "w"), indent=1)
open(mout, "w").write("\n".join(md))
print("\n".join(md))
sys.exit(1 if bad else 0)
