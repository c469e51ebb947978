/* Lazy access to one video's frames and masks: nothing is loaded or decoded before it is shown.
 *
 * Masks come in chunk scripts (masks/<v>/<c>.js calling ENTITYSAM_MASKS(v, c, frames)), added
 * as <script> elements: unlike fetch(), that also works when the page is opened from file://.
 * A frame's id map (row-major Uint16Array, value = entity index + 1, 0 = none) is decoded
 * from its RLEs on first use and kept in a small LRU cache; so are the frame images.
 */
(function (root) {
  "use strict";

  const chunks = {};   // "v/c" -> {promise, resolve, reject, frames}
  const loaded = [];   // keys of the chunks holding data, oldest first
  const MAX_CHUNKS = 40; // RLE text kept in memory; older chunks are dropped and reloaded if needed

  // Called by every masks/<v>/<c>.js file.
  root.ENTITYSAM_MASKS = function (v, c, frames) {
    const key = v + "/" + c;
    const entry = chunks[key];
    if (entry) {
      entry.frames = frames;
      entry.resolve(frames);
      loaded.push(key);
      while (loaded.length > MAX_CHUNKS) delete chunks[loaded.shift()];
    }
  };

  function loadChunk(video, v, c) {
    const key = v + "/" + c;
    let entry = chunks[key];
    if (entry) return entry.promise;
    entry = chunks[key] = {};
    entry.promise = new Promise(function (resolve, reject) {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    const script = document.createElement("script");
    script.src = video.masks + c + ".js";
    script.onerror = function () {
      delete chunks[key];
      entry.reject(new Error("cannot load " + script.src));
    };
    script.onload = function () {
      script.remove();
      if (!entry.frames) {
        delete chunks[key];
        entry.reject(new Error(script.src + " did not call ENTITYSAM_MASKS"));
      }
    };
    document.head.appendChild(script);
    return entry.promise;
  }

  /** A map with a size bound that forgets the least recently used entry. */
  function LRU(size) {
    const map = new Map();
    return {
      get: function (key) {
        if (!map.has(key)) return undefined;
        const value = map.get(key);
        map.delete(key);
        map.set(key, value);
        return value;
      },
      set: function (key, value) {
        map.delete(key);
        map.set(key, value);
        while (map.size > size) map.delete(map.keys().next().value);
      },
    };
  }

  function pad(i) {
    return String(i).padStart(6, "0");
  }

  /** The store of video number v of ENTITYSAM_DATA.videos. */
  function VideoStore(video, v) {
    const index = {};  // entity id -> index + 1 (the value in the id maps)
    video.entities.forEach(function (e, k) { index[e.id] = k + 1; });
    const maps = LRU(12);
    const images = LRU(24);

    function idMap(f) {
      const cached = maps.get(f);
      if (cached) return Promise.resolve(cached);
      const c = Math.floor(f / video.chunk);
      return loadChunk(video, v, c).then(function (frames) {
        const hit = maps.get(f);
        if (hit) return hit;
        const map = new Uint16Array(video.width * video.height);
        const masks = frames[f - c * video.chunk] || [];
        for (let m = 0; m < masks.length; m++) {
          root.EntitySAM.rle.paint(map, masks[m][1], video.height, video.width, index[masks[m][0]] || 0);
        }
        maps.set(f, map);
        return map;
      });
    }

    function image(f) {
      if (!video.frames) return Promise.resolve(null);
      let p = images.get(f);
      if (p) return p;
      p = new Promise(function (resolve, reject) {
        const img = new Image();
        img.onload = function () { resolve(img); };
        img.onerror = function () { reject(new Error("cannot load frame " + img.src)); };
        img.src = video.frames + pad(f) + ".jpg";
      });
      p.catch(function () { images.set(f, undefined); });
      images.set(f, p);
      return p;
    }

    /** Start loading frames f .. f + n - 1 (playback stays smooth). */
    function prefetch(f, n) {
      for (let k = f; k < Math.min(video.num_frames, f + n); k++) {
        image(k).catch(function () {});
        if (k % video.chunk === 0 || k === f) loadChunk(video, v, Math.floor(k / video.chunk)).catch(function () {});
      }
    }

    return { video: video, index: index, idMap: idMap, image: image, prefetch: prefetch };
  }

  root.EntitySAM = root.EntitySAM || {};
  root.EntitySAM.VideoStore = VideoStore;
})(window);
