/* The entity list: one <li data-entity-id="ID"> per entity with its colour, label, scores,
 * first/last frame and an inline-SVG plot of its area over time (a marker follows the
 * current frame). Clicking an entity isolates it (class "isolated"; the others are hidden on
 * the canvas); clicking it again restores all.
 */
(function (root) {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";
  const PLOT_W = 120, PLOT_H = 26;

  function fmt(x, digits) {
    return x === null || x === undefined ? "\u2013" : Number(x).toFixed(digits);
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function rgb(c) {
    return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")";
  }

  /** Area-over-time plot: a filled polyline, max area at the top. */
  function areaPlot(e, n) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "area-plot");
    svg.setAttribute("viewBox", "0 0 " + PLOT_W + " " + PLOT_H);
    svg.setAttribute("width", PLOT_W);
    svg.setAttribute("height", PLOT_H);
    let top = 1;
    for (let i = 0; i < n; i++) if (e.areas[i] > top) top = e.areas[i];
    const step = n > 1 ? PLOT_W / (n - 1) : 0;
    // one point per frame, thinned to at most ~2 per pixel for long videos
    const every = Math.max(1, Math.floor(n / (2 * PLOT_W)));
    const points = ["0," + PLOT_H];
    for (let i = 0; i < n; i += every) {
      points.push((i * step).toFixed(1) + "," + (PLOT_H - 1 - (PLOT_H - 2) * e.areas[i] / top).toFixed(1));
    }
    points.push(((n - 1) * step).toFixed(1) + "," + PLOT_H);
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", rgb(e.colour));
    line.setAttribute("fill-opacity", "0.45");
    line.setAttribute("stroke", rgb(e.colour));
    line.setAttribute("stroke-width", "1");
    svg.appendChild(line);
    const marker = document.createElementNS(SVG, "line");
    marker.setAttribute("class", "marker");
    marker.setAttribute("y1", "0");
    marker.setAttribute("y2", String(PLOT_H));
    svg.appendChild(marker);
    const title = document.createElementNS(SVG, "title");
    title.textContent = "area over time (max " + top + " px)";
    svg.appendChild(title);
    return { svg: svg, marker: marker, step: step };
  }

  /** Build the list of `video`'s entities in `list`; onChange(isolatedId or null). */
  function EntityList(list, video, onChange) {
    const rows = {};
    const plots = {};
    let isolated = null;
    list.textContent = "";
    video.entities.forEach(function (e) {
      const li = el("li", "entity");
      li.setAttribute("data-entity-id", String(e.id));
      li.tabIndex = 0;
      const swatch = el("span", "swatch");
      swatch.style.background = rgb(e.colour);
      const head = el("div", "entity-head");
      head.appendChild(swatch);
      head.appendChild(el("span", "entity-id", "#" + e.id));
      const label = el("span", "label", e.label === null || e.label === undefined ? "" : e.label);
      if (e.label_confidence !== null && e.label_confidence !== undefined) {
        label.title = "label confidence " + fmt(e.label_confidence, 2);
      }
      head.appendChild(label);
      li.appendChild(head);
      const stats = el("div", "stats");
      stats.appendChild(el("span", null, "score " + fmt(e.score, 3)));
      stats.appendChild(el("span", null, "eIoU " + fmt(e.mean_eiou, 3)));
      stats.appendChild(el("span", "span", e.first_frame < 0 ? "no frame"
        : "frames " + e.first_frame + "\u2013" + e.last_frame));
      li.appendChild(stats);
      const plot = areaPlot(e, video.num_frames);
      li.appendChild(plot.svg);
      li.addEventListener("click", function () { toggle(e.id); });
      li.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter") { toggle(e.id); ev.preventDefault(); }
      });
      list.appendChild(li);
      rows[e.id] = li;
      plots[e.id] = plot;
    });

    function toggle(id) {
      if (isolated !== null && rows[isolated]) rows[isolated].classList.remove("isolated");
      isolated = isolated === id ? null : id;
      if (isolated !== null) rows[isolated].classList.add("isolated");
      list.classList.toggle("has-isolated", isolated !== null);
      onChange(isolated);
    }

    /** Mark the entities present in frame f and move the plot markers. */
    function setFrame(f) {
      video.entities.forEach(function (e) {
        rows[e.id].classList.toggle("absent", !(e.areas[f] > 0));
        const x = (f * plots[e.id].step).toFixed(1);
        plots[e.id].marker.setAttribute("x1", x);
        plots[e.id].marker.setAttribute("x2", x);
      });
    }

    let hovered = null;
    function setHover(id) {
      if (hovered === id) return;
      if (hovered !== null && rows[hovered]) rows[hovered].classList.remove("hover");
      hovered = id;
      if (hovered !== null && rows[hovered]) rows[hovered].classList.add("hover");
    }

    return {
      toggle: toggle, setFrame: setFrame, setHover: setHover,
      isolated: function () { return isolated; },
    };
  }

  root.EntitySAM = root.EntitySAM || {};
  root.EntitySAM.EntityList = EntityList;
  root.EntitySAM.fmt = fmt;
})(window);
