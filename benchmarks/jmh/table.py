#!/usr/bin/env python3
"""Prints the README table from the JMH JSON of one run: benchmarks/jmh/table.py results/jmh/cpu.json [cpu-ffm.json [more.json]]

Measured rows are JMH scores (mean of the measurement iterations, their min-max in brackets); derived rows
(decode step, prefill, UNet step) are computed from two measured rows as their docstrings say.
Allocation: gc.alloc.rate.norm of -prof gc, bytes per operation, Java heap only (native memory
that LibTorch allocates is not in it)."""
import json
import sys


def load(path):
    rows = {}
    for r in json.load(open(path)):
        name = r["benchmark"].rsplit(".", 2)
        key = name[-2] + "." + name[-1]
        params = r.get("params") or {}
        pm = r["primaryMetric"]
        alloc = r.get("secondaryMetrics", {}).get("gc.alloc.rate.norm", {}).get("score")
        raw = [v for fork in pm.get("rawData", []) for v in fork]
        rng = (min(raw), max(raw)) if len(raw) > 1 else None
        rows[(key, tuple(sorted(params.items())))] = (pm["score"], rng, pm["scoreUnit"], alloc)
    return rows


def get(rows, key, **params):
    return rows[(key, tuple(sorted((k, str(v)) for k, v in params.items())))]


def fmt(v, unit=""):
    if v is None:
        return "-"
    return (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}") + unit


def fmt_alloc(a):
    if a is None:
        return "-"
    if a >= 1 << 20:
        return f"{a / (1 << 20):.1f} MiB"
    if a >= 1024:
        return f"{a / 1024:.1f} KiB"
    return f"{a:.0f} B"


def main():
    rows = load(sys.argv[1])
    ffm = load(sys.argv[2]) if len(sys.argv) > 2 else {}
    extra = load(sys.argv[3]) if len(sys.argv) > 3 else {}
    rows.update(extra)
    out = ["| Row | Native | JVM engine | native/JVM | Alloc native / JVM (B/op) |", "|---|---|---|---|---|"]

    def row(label, n, j, unit):
        ratio = n[0] / j[0]
        nerr = f" ({fmt(n[1][0])}-{fmt(n[1][1])})" if n[1] else ""
        jerr = f" ({fmt(j[1][0])}-{fmt(j[1][1])})" if j[1] else ""
        out.append(f"| {label} | {fmt(n[0])}{nerr} {unit} | {fmt(j[0])}{jerr} {unit} | {ratio:.2f} | "
                   f"{fmt_alloc(n[3])} / {fmt_alloc(j[3])} |")

    def derived(label, n, j, unit):
        out.append(f"| {label} | {fmt(n)} {unit} | {fmt(j)} {unit} | {n / j:.2f} | (derived) |")

    row("Empty crossing: `viscpm_get_num_threads` (JavaCPP) / `torch.get_num_threads` (bytedeco)",
        get(rows, "CrossingBench.nativeJavacppGetNumThreads"), get(rows, "CrossingBench.jvmEngineTorchGetNumThreads"), "ns")
    n = get(rows, "CrossingBench.nativePublicApiThreads")
    out.append(f"| Empty crossing through the public API, `VisCpm.threads()` | {fmt(n[0])} ns | | | {fmt_alloc(n[3])} |")
    f = get(rows, "CrossingBench.javaFieldRead")
    out.append(f"| (floor: a Java field read) | {fmt(f[0])} ns | | | |")
    row("Chat answer, fixture model, beam 3, max_length 16 (11 tokens + EOS)",
        get(rows, "ChatFixtureBench.answer", engine="native"), get(rows, "ChatFixtureBench.answer", engine="jvm"), "ms")
    n0, n8 = get(rows, "ChatMidBench.answer", engine="native", maxLength=0), get(rows, "ChatMidBench.answer", engine="native", maxLength=8)
    j0, j8 = get(rows, "ChatMidBench.answer", engine="jvm", maxLength=0), get(rows, "ChatMidBench.answer", engine="jvm", maxLength=8)
    row("Chat turn, mid CPM-Bee, beam 3, max_length 0 (2 tokens)", n0, j0, "ms")
    row("Chat turn, mid CPM-Bee, beam 3, max_length 8 (10 tokens)", n8, j8, "ms")
    ns, js = (n8[0] - n0[0]) / 8, (j8[0] - j0[0]) / 8
    derived("CPM-Bee mid decode step, 3 rows + reorder = (T(8) - T(0)) / 8", ns, js, "ms")
    derived("CPM-Bee mid prefill (+ prompt build, 2 steps off) = T(0) - 2 steps", n0[0] - 2 * ns, j0[0] - 2 * js, "ms")
    p1n, p4n = get(rows, "PaintFixtureBench.generate", engine="native", steps=1), get(rows, "PaintFixtureBench.generate", engine="native", steps=4)
    p1j, p4j = get(rows, "PaintFixtureBench.generate", engine="jvm", steps=1), get(rows, "PaintFixtureBench.generate", engine="jvm", steps=4)
    row("Paint, fixture model, 64x64, 1 ddpm step", p1n, p1j, "ms")
    row("Paint, fixture model, 64x64, 4 ddpm steps", p4n, p4j, "ms")
    un, uj = (p4n[0] - p1n[0]) / 3, (p4j[0] - p1j[0]) / 3
    derived("UNet step with guidance (batch 2, 8x8 latents) = (T(4) - T(1)) / 3", un, uj, "ms")
    derived("Rest: 2 prompt encodes, trans block, VAE decode = T(1) - 1 step", p1n[0] - un, p1j[0] - uj, "ms")
    g = get(rows, "JvmStepGemmBench.stepGemms")
    o = get(rows, "JvmStepGemmBench.outputProjectionOnly")
    out.append(f"| (JVM diagnostic) the step's 49 `torch.linear` calls alone, 3 rows | | {fmt(g[0])} ({fmt(g[1][0])}-{fmt(g[1][1])}) ms | | - / {fmt_alloc(g[3])} |")
    out.append(f"| (JVM diagnostic) of which the output projection [86583, 1024] | | {fmt(o[0])} ({fmt(o[1][0])}-{fmt(o[1][1])}) ms | | - / {fmt_alloc(o[3])} |")
    for key, label in [("JvmOpBench.addTinyClosed", "(JVM diagnostic) one tiny op, `torch.add` on 1-element tensors, result closed"),
                       ("JvmOpBench.addTinyInScope", "(JVM diagnostic) the same in its own `PointerScope` + `InferenceMode`"),
                       ("JvmOpBench.addTinyTenInScope", "(JVM diagnostic) ten of them in one scope")]:
        a = get(rows, key)
        out.append(f"| {label} | | {fmt(a[0] / 1000)} ({fmt(a[1][0] / 1000)}-{fmt(a[1][1] / 1000)}) µs | | - / {fmt_alloc(a[3])} |")
    if any(k[0] == "Beit3LargeBench.openSession" for k in rows):
        row("BEiT-3 large encode: a chat session opened (PNG decode, resize, BEiT-3 large + 64 queries, mapping)",
            get(rows, "Beit3LargeBench.openSession", engine="native"), get(rows, "Beit3LargeBench.openSession", engine="jvm"), "ms")
    print("\n".join(out))

    print()
    print("| Image hand-over (native side reads in place and sums the bytes) | 224x224x3 | 1024x1024x3 | Alloc 224 / 1024 (B/op) |")
    print("|---|---|---|---|")
    for key, label in [("HandoverBench.directBuffer", "JavaCPP, direct buffer (`VisCpm.probe`): zero copy"),
                       ("HandoverBench.heapCopyToDirect", "JavaCPP, heap `byte[]` copied into a direct buffer"),
                       ("HandoverBench.heapJavacppBytePointer", "JavaCPP, heap `byte[]` as `new BytePointer(byte[])`")]:
        a, b = get(rows, key, side=224), get(rows, key, side=1024)
        print(f"| {label} | {fmt(a[0])} µs | {fmt(b[0])} µs | {fmt_alloc(a[3])} / {fmt_alloc(b[3])} |")
    if ffm:
        for key, label in [("FfmHandoverBench.handoverJavacppDirect", "JDK 25: JavaCPP, direct buffer"),
                           ("FfmHandoverBench.handoverJavacppHeapBytePointer", "JDK 25: JavaCPP, `new BytePointer(byte[])`"),
                           ("FfmHandoverBench.handoverFfmDirect", "JDK 25: FFM, `MemorySegment.ofBuffer(direct)`: zero copy"),
                           ("FfmHandoverBench.handoverFfmHeapCopy", "JDK 25: FFM, heap array copied into an arena segment"),
                           ("FfmHandoverBench.handoverFfmHeapCritical", "JDK 25: FFM, heap array itself, `critical(true)`: zero copy")]:
            a, b = get(ffm, key, side=224), get(ffm, key, side=1024)
            print(f"| {label} | {fmt(a[0])} µs | {fmt(b[0])} µs | {fmt_alloc(a[3])} / {fmt_alloc(b[3])} |")
        print()
        print("| Chat answer, fixture model, beam 3, max_length 16, native engine, JDK 25 | ms/op | Alloc (B/op) |")
        print("|---|---|---|")
        for b, label in [("javacpp", "public API over JavaCPP (`ChatSession.ask`, a listener)"),
                         ("ffm", "C API through FFM (`FfmChat`, an upcall stub as the text callback)")]:
            a = get(ffm, "FfmChatBench.answer", binding=b)
            print(f"| {label} | {fmt(a[0])} ({fmt(a[1][0])}-{fmt(a[1][1])}) | {fmt_alloc(a[3])} |")
        print()
        print("| Empty crossing, JDK 25, same JVM | ns/op | Alloc (B/op) |")
        print("|---|---|---|")
        for key, label in [("FfmCrossingBench.crossingJavacpp", "JavaCPP `viscpm_get_num_threads`"),
                           ("FfmCrossingBench.crossingFfm", "FFM downcall"),
                           ("FfmCrossingBench.crossingFfmCritical", "FFM downcall, `critical(false)`"),
                           ("FfmCrossingBench.crossingJavaFieldRead", "(floor: a Java field read)")]:
            a = get(ffm, key)
            err = f" ({fmt(a[1][0])}-{fmt(a[1][1])})" if a[1] else ""
            print(f"| {label} | {fmt(a[0])}{err} | {fmt_alloc(a[3])} |")


main()
