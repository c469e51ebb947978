/* COCO run-length encoding (pycocotools' compressed "counts" strings), decoded in the browser.
 *
 * A mask of H x W pixels is a list of run lengths over the pixels in column-major order
 * (x outer, y inner), alternating 0-runs and 1-runs, starting with a 0-run. pycocotools
 * stores each run as a variable-length string of 6-bit chunks (char - 48: 5 data bits and a
 * "more" bit, the last chunk sign-extended), every run after the second one as the
 * difference to the run two places before it (rleFrString in maskApi.c).
 */
(function (root) {
  "use strict";

  /** counts string -> array of run lengths. */
  function decodeCounts(s) {
    const runs = [];
    let p = 0;
    while (p < s.length) {
      let x = 0, k = 0, more = 1, c = 0;
      while (more) {
        c = s.charCodeAt(p) - 48;
        x += (c & 0x1f) * Math.pow(2, 5 * k);
        more = c & 0x20;
        p += 1;
        k += 1;
        if (!more && (c & 0x10)) x -= Math.pow(2, 5 * k); // sign extension
      }
      if (runs.length > 2) x += runs[runs.length - 2];
      runs.push(x);
    }
    return runs;
  }

  /** Set map[y * width + x] = value at every pixel of the mask (row-major map). */
  function paint(map, counts, height, width, value) {
    const runs = typeof counts === "string" ? decodeCounts(counts) : counts;
    const total = height * width;
    let pos = 0;
    for (let r = 0; r < runs.length; r++) {
      let n = runs[r];
      if (r % 2 === 1) {
        if (pos + n > total) n = total - pos; // a corrupt RLE must not write past the map
        let end = pos + n;
        while (pos < end) {
          const x = Math.floor(pos / height);
          let y = pos - x * height;
          const stop = Math.min(end, pos + (height - y));
          for (let idx = y * width + x; pos < stop; pos++, idx += width) map[idx] = value;
        }
      } else {
        pos += n;
      }
    }
  }

  root.EntitySAM = root.EntitySAM || {};
  root.EntitySAM.rle = { decodeCounts: decodeCounts, paint: paint };
})(typeof window !== "undefined" ? window : globalThis);
