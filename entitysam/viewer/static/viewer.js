/* The player: frame picture (#frame-bg), entity masks drawn from the RLE (#frame, its CSS
 * opacity blends them over the picture), scrubber, play/pause, arrow keys, hover, isolation,
 * and the video picker (shown when the data holds several videos).
 *
 * The masks canvas holds only mask colours (alpha 255) or transparent pixels, so what it
 * shows can be read back exactly (getImageData) even from file://, where drawing a frame
 * image would taint a canvas; the picture has a canvas of its own.
 */
(function (root) {
  "use strict";

  const ES = root.EntitySAM;
  const data = root.ENTITYSAM_DATA;
  const $ = function (id) { return document.getElementById(id); };
  const canvas = $("frame"), bg = $("frame-bg");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const bgCtx = bg.getContext("2d");
  const scrubber = $("scrubber");

  const state = {
    v: 0, store: null, list: null, frame: -1, want: 0, playing: false, timer: null,
    map: null, lut: null, pixels: null, isolated: null,
  };
  root.EntitySAM.state = state; // for debugging and automated checks

  function fail(message) {
    const li = document.createElement("li");
    li.className = "error";
    li.textContent = message;
    $("notes").appendChild(li);
    document.body.setAttribute("data-error", message);
  }

  /** entity index + 1 -> RGBA as a little-endian uint32 (0 = transparent). */
  function buildLut() {
    const ents = state.store.video.entities;
    const lut = new Uint32Array(ents.length + 1);
    ents.forEach(function (e, k) {
      if (state.isolated === null || state.isolated === e.id) {
        lut[k + 1] = ((255 << 24) | (e.colour[2] << 16) | (e.colour[1] << 8) | e.colour[0]) >>> 0;
      }
    });
    state.lut = lut;
  }

  function drawMasks() {
    if (!state.map) return;
    const video = state.store.video;
    if (!state.pixels) state.pixels = ctx.createImageData(video.width, video.height);
    const out = new Uint32Array(state.pixels.data.buffer);
    const map = state.map, lut = state.lut;
    for (let i = 0; i < map.length; i++) out[i] = lut[map[i]];
    ctx.putImageData(state.pixels, 0, 0);
  }

  function drawPicture(img) {
    const video = state.store.video;
    if (img) {
      bgCtx.drawImage(img, 0, 0, video.width, video.height);
    } else {
      bgCtx.fillStyle = "#1b1d22";
      bgCtx.fillRect(0, 0, video.width, video.height);
    }
  }

  /** Show frame f once both its picture and its masks are ready (the latest request wins). */
  function show(f) {
    const video = state.store.video;
    f = isFinite(f) ? Math.floor(f) : (f > 0 ? video.num_frames - 1 : 0);
    f = Math.max(0, Math.min(video.num_frames - 1, f));
    state.want = f;
    scrubber.value = String(f);
    const store = state.store;
    return Promise.all([store.image(f), store.idMap(f)]).then(function (got) {
      if (state.want !== f || state.store !== store) return false;
      drawPicture(got[0]);
      state.map = got[1];
      drawMasks();
      state.frame = f;
      $("frame-index").textContent = String(f);
      $("frame-name").textContent = video.frame_names[f] || "";
      canvas.setAttribute("data-frame", String(f));
      state.list.setFrame(f);
      store.prefetch(f + 1, 4);
      document.body.setAttribute("data-ready", "1");
      return true;
    }).catch(function (err) {
      stop();
      fail(String(err && err.message ? err.message : err));
      return false;
    });
  }

  function step(delta) {
    stop();
    show((state.want | 0) + delta);
  }

  function stop() {
    state.playing = false;
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
    $("play").innerHTML = "&#9654;";
  }

  function play() {
    const video = state.store.video;
    if (state.frame >= video.num_frames - 1) show(0);
    state.playing = true;
    $("play").innerHTML = "&#10074;&#10074;";
    const period = 1000 / (video.fps || 25);
    function tick() {
      if (!state.playing) return;
      const started = performance.now();
      if (state.want >= video.num_frames - 1) { stop(); return; }
      show(state.want + 1).then(function () {
        if (!state.playing) return;
        state.timer = setTimeout(tick, Math.max(0, period - (performance.now() - started)));
      });
    }
    state.timer = setTimeout(tick, period);
  }

  function entityAt(ev) {
    if (!state.map) return null;
    const video = state.store.video;
    const rect = canvas.getBoundingClientRect();
    const x = Math.floor((ev.clientX - rect.left) / rect.width * video.width);
    const y = Math.floor((ev.clientY - rect.top) / rect.height * video.height);
    if (x < 0 || y < 0 || x >= video.width || y >= video.height) return null;
    const k = state.map[y * video.width + x];
    const e = k ? video.entities[k - 1] : null;
    return e && (state.isolated === null || state.isolated === e.id) ? e : null; // only what is shown
  }

  function onHover(ev) {
    const e = entityAt(ev);
    const hover = $("hover");
    state.list.setHover(e ? e.id : null);
    if (!e) {
      hover.textContent = "no entity here";
      hover.style.borderColor = "transparent";
      return;
    }
    hover.textContent = "#" + e.id + (e.label ? " " + e.label : "") + "  score " + ES.fmt(e.score, 3) +
      "  eIoU " + ES.fmt(e.mean_eiou, 3) + "  area " + e.areas[state.frame] + " px";
    hover.style.borderColor = "rgb(" + e.colour.join(",") + ")";
  }

  function selectVideo(v) {
    stop();
    const video = data.videos[v];
    state.v = v;
    state.store = ES.VideoStore(video, v);
    state.isolated = null;
    state.map = null;
    state.pixels = null;
    state.frame = -1;
    canvas.width = bg.width = video.width;
    canvas.height = bg.height = video.height;
    $("stage").style.aspectRatio = video.width + " / " + video.height;
    $("stage").style.width = "min(100%, calc((100vh - 170px) * " + (video.width / video.height).toFixed(4) + "))";
    scrubber.max = String(Math.max(0, video.num_frames - 1));
    $("frame-count").textContent = String(Math.max(0, video.num_frames - 1));
    $("video-info").textContent = video.name + " \u00b7 " + video.width + "\u00d7" + video.height +
      " \u00b7 " + video.num_frames + " frames" + (video.fps ? " @ " + Number(video.fps).toFixed(2) + " fps" : "") +
      " \u00b7 masks from " + video.layout;
    $("entity-count").textContent = video.entities.length + (video.entities.length === 1 ? " entity" : " entities");
    const notes = $("notes");
    notes.textContent = "";
    video.notes.forEach(function (n) {
      const li = document.createElement("li");
      li.textContent = n;
      notes.appendChild(li);
    });
    state.list = ES.EntityList($("entities"), video, function (id) {
      state.isolated = id;
      buildLut();
      drawMasks();
    });
    buildLut();
    if (video.num_frames > 0) show(0);
  }

  function init() {
    if (!data || !data.videos) {
      fail("data.js is missing or invalid: write the viewer again with `entitysam view OUT --write DIR`");
      return;
    }
    document.title = "EntitySAM viewer \u2013 " + data.title;
    $("title").textContent = data.title;
    const picker = $("video");
    data.videos.forEach(function (video, v) {
      const option = document.createElement("option");
      option.value = String(v);
      option.textContent = video.name + " (" + video.entities.length + ")";
      picker.appendChild(option);
    });
    $("video-picker").hidden = data.videos.length < 2;
    picker.addEventListener("change", function () { selectVideo(Number(picker.value)); });
    $("prev").addEventListener("click", function () { step(-1); });
    $("next").addEventListener("click", function () { step(1); });
    $("play").addEventListener("click", function () { if (state.playing) stop(); else play(); });
    scrubber.addEventListener("input", function () { stop(); show(Number(scrubber.value)); });
    const opacity = $("opacity");
    const setOpacity = function () { canvas.style.opacity = opacity.value; };
    opacity.addEventListener("input", setOpacity);
    setOpacity();
    canvas.addEventListener("mousemove", onHover);
    canvas.addEventListener("mouseleave", function () {
      state.list.setHover(null);
      $("hover").textContent = "hover a pixel to see its entity";
      $("hover").style.borderColor = "transparent";
    });
    document.addEventListener("keydown", function (ev) {
      const t = ev.target;
      if (t && (t.tagName === "INPUT" || t.tagName === "SELECT") && t !== document.body) {
        if (t.type === "range" && (ev.key === "ArrowLeft" || ev.key === "ArrowRight")) return; // native
        if (t.tagName === "SELECT") return;
      }
      if (ev.key === "ArrowLeft") { step(-1); ev.preventDefault(); }
      else if (ev.key === "ArrowRight") { step(1); ev.preventDefault(); }
      else if (ev.key === " ") { if (state.playing) stop(); else play(); ev.preventDefault(); }
      else if (ev.key === "Home") { step(-Infinity); ev.preventDefault(); }
      else if (ev.key === "End") { step(Infinity); ev.preventDefault(); }
    });
    if (data.videos.length) selectVideo(0);
  }

  init();
})(window);
