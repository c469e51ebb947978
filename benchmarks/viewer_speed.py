"""Does the viewer stay responsive on a long HD output? Times `entitysam view --write` in Chromium.

    python benchmarks/viewer_speed.py            # 300 frames of 1280 x 720, 30 entities

Builds an `entitysam segment`-style output with the project's own writers (``rle.json`` +
``summary.json``; 30 moving entities, no model), writes the static viewer, opens it from
file:// in headless Chromium (Debian's ``chromium`` + ``chromium-driver``), and measures the
time to the first drawn frame, 40 single-frame steps (→ key), 5 scrubber seeks and one frame's
RLE decode. Writes ``benchmarks/results/viewer_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from entitysam.core.segments import FrameSegment
from entitysam.core.summary import SegmentSummary
from entitysam.io.sources import SourceInfo
from entitysam.io.writers import open_writers
from entitysam.viewer.run import write_viewer

STEP_JS = """
const done = arguments[arguments.length - 1];
const st = EntitySAM.state;
const wait = async (f) => { while (st.frame !== f) await new Promise(r => setTimeout(r, 1)); };
(async () => {
  const steps = [];
  for (let f = 1; f <= 40; f++) {
    const t = performance.now();
    document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight'}));
    await wait(f);
    steps.push(performance.now() - t);
  }
  const seeks = [];
  for (const f of [250, 17, 299, 120, 61]) {
    const t = performance.now();
    const s = document.getElementById('scrubber');
    s.value = f; s.dispatchEvent(new Event('input'));
    await wait(f);
    seeks.push(performance.now() - t);
  }
  const t = performance.now();
  await st.store.idMap(200);
  done({steps_ms: steps, seeks_ms: seeks, decode_one_frame_ms: performance.now() - t});
})();
"""


def make_output(out: Path, n: int, h: int, w: int, k: int) -> None:
    rng = np.random.default_rng(0)
    cx, cy = rng.uniform(0, w, k), rng.uniform(0, h, k)
    vx, vy = rng.uniform(-4, 4, k), rng.uniform(-3, 3, k)
    r = rng.uniform(40, 160, k)
    yy, xx = np.mgrid[0:h, 0:w]
    areas = {i: [0] * n for i in range(1, k + 1)}
    with open_writers(["rle"], out, SourceInfo("big", "video", (h, w), n, 30.0)) as writers:
        for t in range(n):
            m = np.zeros((h, w), np.int32)
            m[: h // 3], m[2 * h // 3:] = 1, 2  # two stuff bands
            for j in range(2, k):
                x, y = (cx[j] + vx[j] * t) % w, (cy[j] + vy[j] * t) % h
                m[((xx - x) ** 2 / r[j] ** 2 + (yy - y) ** 2 / (0.6 * r[j]) ** 2 + 0.15 * np.sin(xx / 9.0 + t)) < 1] = j + 1
            segs = []
            for i in np.unique(m[m > 0]).tolist():
                ys, xs = np.nonzero(m == i)
                segs.append(FrameSegment(i, i, 0.5, len(xs), (int(xs.min()), int(ys.min()),
                                                               int(xs.max() - xs.min()), int(ys.max() - ys.min())), 0.5))
                areas[i][t] = len(xs)
            for wr in writers:
                wr.write_frame(t, f"{t:08d}.png", m, segs, None)
    recs = [{"id": i, "slot": i, "score": 0.5, "mean_eiou": 0.4, "quality": 0.1, "overlap_ratio": 1.0,
             "area_per_frame": areas[i]} for i in areas]
    summary = SegmentSummary(str(out), "big", n, k, 0.0, 0.0, 0.0, ["rle"], False, segments=recs)
    (out / "summary.json").write_text(json.dumps(asdict(summary)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="720x1280", help="HxW")
    ap.add_argument("--entities", type=int, default=30)
    ap.add_argument("--out", default="benchmarks/results/viewer_speed.json")
    args = ap.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    h, w = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        out, site = Path(tmp) / "out", Path(tmp) / "site"
        out.mkdir()
        make_output(out, args.frames, h, w, args.entities)
        t0 = time.perf_counter()
        write_viewer(out, site)
        write_s = time.perf_counter() - t0
        opts = Options()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,760"):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opts)
        try:
            t0 = time.perf_counter()
            driver.get((site / "index.html").as_uri())
            WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.body.dataset.ready"))
            first_s = time.perf_counter() - t0
            driver.set_script_timeout(120)
            res = driver.execute_async_script(STEP_JS)
        finally:
            driver.quit()
    steps = sorted(res["steps_ms"])
    result = {
        "frames": args.frames, "size_hw": [h, w], "entities": args.entities,
        "write_viewer_s": write_s, "first_frame_s": first_s,
        "step_ms": {"median": steps[len(steps) // 2], "mean": sum(steps) / len(steps), "max": steps[-1]},
        "seek_ms": res["seeks_ms"], "decode_one_frame_ms": res["decode_one_frame_ms"],
        "machine_cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
