// REPORT.html's script: filters, charts (Chart.js, inlined before this script) and the table
// and SQL panel, drawn from the JSON embedded in the page. Every figure, interval and count
// was computed by the harness (bench/report/page.py); this only chooses and draws them.
(function () {
  "use strict";

  const DATA = JSON.parse(document.getElementById("bench-data").textContent);
  const STOPS = DATA.rtt_stops_ms;
  const $ = (id) => document.getElementById(id);
  const VARIANTS = new Map(DATA.variants.map((v) => [v.name, v]));
  const BACKENDS = new Map(DATA.backends.map((b) => [b.name, b]));
  const WORKLOADS = new Map(DATA.workloads.map((w) => [w.name, w]));
  const CELLS = new Map();
  for (const cell of DATA.cells) {
    CELLS.set(key(cell.backend, cell.workload, cell.variant, cell.size), cell);
  }
  const state = {
    backend: DATA.opening.backend,
    workload: null,
    size: null,
    stop: 0,
    hidden: new Set(),
  };
  const charts = {};

  function key(backend, workload, variant, size) {
    return backend + "|" + workload + "|" + variant + "|" + size;
  }

  // --- formatting ---------------------------------------------------------------------------

  function digits(value) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    const abs = Math.abs(value);
    if (abs >= 1000) return value.toFixed(0);
    if (abs >= 100) return value.toFixed(0);
    if (abs >= 10) return value.toFixed(1);
    if (abs >= 1) return value.toFixed(2);
    return value.toPrecision(3);
  }

  // seconds, in the unit the Markdown report uses for them
  function seconds(value) {
    if (value === null || value === undefined) return "–";
    if (value < 1e-3) return digits(value * 1e6) + " µs";
    if (value < 1) return digits(value * 1e3) + " ms";
    return value.toFixed(2) + " s";
  }

  function interval(low, high, format) {
    if (low === null || low === undefined || high === null || high === undefined) {
      return "[no interval]";
    }
    return "[" + format(low) + "–" + format(high) + "]";
  }

  function rttText(ms) {
    return (ms === 0 ? "0" : String(ms)) + " ms";
  }

  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fill(node, ...children) {
    node.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
  }

  function alpha(color, opacity) {
    const hex = Math.round(opacity * 255).toString(16).padStart(2, "0");
    return /^#[0-9a-fA-F]{6}$/.test(color) ? color + hex : color;
  }

  // --- each variant's look: the PNG charts' colour, pattern, line style and marker ----------

  const DASHES = { "-": [], "--": [6, 4], ":": [2, 3], "-.": [8, 3, 2, 3] };
  const POINTS = {
    o: "circle", s: "rect", "^": "triangle", D: "rectRot", v: "triangle",
    x: "crossRot", "+": "cross", "*": "star", 1: "star", 2: "cross", 3: "crossRot",
  };

  function dash(look) {
    return DASHES[look.linestyle] || [];
  }

  function pointStyle(look) {
    return POINTS[look.marker] || "circle";
  }

  // a matplotlib hatch ("//", "xx", "..", "||", "\\\\", "++", "oo", ...) as a canvas
  // pattern in the variant's colour: denser as the hatch repeats, as matplotlib draws it
  const patterns = new Map();
  function fillOf(look, opacity) {
    const color = opacity === undefined ? look.color : alpha(look.color, opacity);
    if (!look.hatch) return color;
    const id = look.hatch + "|" + color + "|" + look.hatch_color;
    if (patterns.has(id)) return patterns.get(id);
    const size = 12;
    const tile = document.createElement("canvas");
    tile.width = size;
    tile.height = size;
    const context = tile.getContext("2d");
    context.fillStyle = color;
    context.fillRect(0, 0, size, size);
    context.strokeStyle = opacity === undefined ? look.hatch_color : alpha(look.hatch_color, opacity);
    context.fillStyle = context.strokeStyle;
    context.lineWidth = 1.2;
    const kinds = new Set(look.hatch);
    const step = size / Math.max(1, Math.round(look.hatch.length / kinds.size));
    const line = (x1, y1, x2, y2) => {
      context.beginPath();
      context.moveTo(x1, y1);
      context.lineTo(x2, y2);
      context.stroke();
    };
    for (let offset = 0; offset < size; offset += step) {
      if (kinds.has("/") || kinds.has("x")) {
        line(offset, size, offset + size, 0);
        line(offset - size, size, offset, 0);
      }
      if (kinds.has("\\") || kinds.has("x")) {
        line(offset, 0, offset + size, size);
        line(offset - size, 0, offset, size);
      }
      if (kinds.has("|") || kinds.has("+")) line(offset + step / 2, 0, offset + step / 2, size);
      if (kinds.has("-") || kinds.has("+")) line(0, offset + step / 2, size, offset + step / 2);
      if (kinds.has(".") || kinds.has("o") || kinds.has("*") || kinds.has("O")) {
        for (let y = step / 2; y < size; y += step) {
          context.beginPath();
          context.arc(offset + step / 2, y, kinds.has(".") ? 1 : 2, 0, 2 * Math.PI);
          if (kinds.has(".") || kinds.has("*")) context.fill();
          else context.stroke();
        }
      }
    }
    const pattern = context.createPattern(tile, "repeat");
    patterns.set(id, pattern);
    return pattern;
  }

  // a small square in the variant's fill, for the filters and the table
  function swatch(look) {
    const canvas = element("canvas", { className: "swatch", width: 14, height: 14, "aria-hidden": "true" });
    const context = canvas.getContext("2d");
    context.fillStyle = fillOf(look);
    context.fillRect(0, 0, 14, 14);
    return canvas;
  }

  // --- what is selected -----------------------------------------------------------------------

  function backendCells() {
    return DATA.cells.filter((c) => c.backend === state.backend);
  }

  function workloadsOf(backend) {
    const present = new Set(DATA.cells.filter((c) => c.backend === backend).map((c) => c.workload));
    return DATA.workloads.filter((w) => present.has(w.name));
  }

  function sizesOf(backend, workload) {
    const sizes = new Set();
    for (const c of DATA.cells) {
      if (c.backend === backend && c.workload === workload) sizes.add(c.size);
    }
    return Array.from(sizes).sort((a, b) => a - b);
  }

  function variantsPresent(cells) {
    const present = new Set(cells.map((c) => c.variant));
    return DATA.variants.filter((v) => present.has(v.name)).map((v) => v.name);
  }

  function shownVariants(cells) {
    return variantsPresent(cells).filter((name) => !state.hidden.has(name));
  }

  // whether the RTT applies: a networked backend and a workload the report projects
  function projectable() {
    const backend = BACKENDS.get(state.backend);
    const workload = WORKLOADS.get(state.workload);
    return Boolean(backend && backend.networked && workload && workload.projected);
  }

  function rttMs() {
    return projectable() ? STOPS[state.stop] : 0;
  }

  function isConcurrent() {
    const workload = WORKLOADS.get(state.workload);
    return Boolean(workload && workload.concurrent);
  }

  // one cell's figure at the chosen RTT: measured through the proxy there if the run did,
  // else projected (median + round trips x RTT), or the direct median at 0 ms
  function figure(cell) {
    const rtt = rttMs();
    if (isConcurrent() && cell.concurrency) {
      const c = cell.concurrency;
      return {
        kind: "direct",
        value: c.units_per_second,
        low: c.ci ? c.ci[0] : null,
        high: c.ci ? c.ci[1] : null,
        server: c.units_per_second,
        network: 0,
        ratio: cell.ratios ? cell.ratios[0] : null,
      };
    }
    const measured = rtt > 0 && cell.measured ? cell.measured[String(rtt)] : null;
    if (measured) {
      return {
        kind: "measured",
        value: measured.median,
        low: measured.ci ? measured.ci[0] : null,
        high: measured.ci ? measured.ci[1] : null,
        server: 0,
        network: 0,
        measured: measured.median,
        ratio: measured.ratio || null,
      };
    }
    const shift = (cell.round_trips * rtt) / 1000;
    const index = projectable() ? state.stop : 0;
    return {
      kind: rtt > 0 ? "projected" : "direct",
      value: cell.median + shift,
      low: cell.ci ? cell.ci[0] + shift : null,
      high: cell.ci ? cell.ci[1] + shift : null,
      server: cell.median,
      network: shift,
      ratio: cell.ratios ? cell.ratios[Math.min(index, cell.ratios.length - 1)] : null,
    };
  }

  // --- the filters ----------------------------------------------------------------------------

  function options(select, items, chosen) {
    fill(
      select,
      ...items.map((item) =>
        element("option", { value: item.value, selected: item.value === chosen }, item.text)
      )
    );
    select.value = chosen;
  }

  function settle() {
    const workloads = workloadsOf(state.backend);
    if (!workloads.some((w) => w.name === state.workload)) {
      const projected = workloads.find((w) => w.projected);
      state.workload = (projected || workloads[0]).name;
    }
    const sizes = sizesOf(state.backend, state.workload);
    if (!sizes.includes(state.size)) {
      const wanted = state.size === null ? BACKENDS.get(state.backend).reference_size : state.size;
      state.size = sizes.reduce((best, s) =>
        Math.abs(Math.log(s / wanted)) < Math.abs(Math.log(best / wanted)) ? s : best
      );
    }
  }

  function drawFilters() {
    options(
      $("backend"),
      DATA.backends.map((b) => ({ value: b.name, text: b.title })),
      state.backend
    );
    options(
      $("workload"),
      workloadsOf(state.backend).map((w) => ({ value: w.name, text: w.name })),
      state.workload
    );
    const concurrent = isConcurrent();
    options(
      $("size"),
      sizesOf(state.backend, state.workload).map((s) => ({
        value: String(s),
        text: concurrent ? s + " workers" : String(s),
      })),
      String(state.size)
    );
    const slider = $("rtt");
    slider.max = String(STOPS.length - 1);
    slider.value = String(state.stop);
    slider.disabled = !projectable();
    const backend = BACKENDS.get(state.backend);
    const rtt = STOPS[state.stop];
    const measured = backend.measured_rtts_ms.includes(rtt) && rtt > 0;
    $("rtt-value").textContent = projectable()
      ? rttText(rtt) + (rtt === 0 ? " (direct)" : measured ? " (measured)" : " (projected)")
      : "n/a";
    const about = WORKLOADS.get(state.workload);
    $("workload-about").textContent =
      state.workload + ": " + (about.description || "") + (concurrent ? " (size: K worker threads)" : "");
    let note;
    if (!backend.networked) {
      note =
        backend.title +
        " runs inside the application's process: there is no network, so no round-trip time applies.";
    } else if (!about.projected) {
      note =
        state.workload +
        " is not projected to a round-trip time (its counts are of one request or include connecting); figures are measured directly.";
    } else {
      note =
        "projected = median + round trips × RTT: a lower bound (a network adds more than its round trips' waits). " +
        (backend.measured_rtts_ms.length
          ? "Measured through the delay proxy at " +
            backend.measured_rtts_ms.map(rttText).join(", ") +
            " (run --rtt); marked measured."
          : "This run measured no RTT through the delay proxy (run --rtt): every figure above 0 ms is projected.");
    }
    $("rtt-note").textContent = note;
    drawVariantBoxes();
  }

  function drawVariantBoxes() {
    const inBackend = variantsPresent(backendCells());
    const inWorkload = new Set(
      backendCells()
        .filter((c) => c.workload === state.workload)
        .map((c) => c.variant)
    );
    fill(
      $("variant-boxes"),
      ...inBackend.map((name) => {
        const look = VARIANTS.get(name);
        const box = element("input", {
          type: "checkbox",
          value: name,
          checked: !state.hidden.has(name),
          "data-variant": name,
        });
        box.addEventListener("change", () => {
          if (box.checked) state.hidden.delete(name);
          else state.hidden.add(name);
          draw();
        });
        return element(
          "label",
          { title: look.label, className: inWorkload.has(name) ? null : "absent" },
          box,
          swatch(look),
          name
        );
      })
    );
  }

  // --- charts ---------------------------------------------------------------------------------

  // the 95 % intervals as error bars: any dataset with `intervals` ([low, high] per point,
  // in the value axis' units) gets a whisker with caps through each of its points
  const errorBars = {
    id: "errorBars",
    afterDatasetsDraw(chart) {
      const context = chart.ctx;
      chart.data.datasets.forEach((dataset, index) => {
        if (!dataset.intervals || !chart.isDatasetVisible(index)) return;
        const meta = chart.getDatasetMeta(index);
        const valueScale = meta.vScale;
        const across = valueScale.axis === "x";
        context.save();
        context.strokeStyle = dataset.intervalColor || "#222";
        context.lineWidth = 1.4;
        meta.data.forEach((point, i) => {
          const bounds = dataset.intervals[i];
          if (!bounds || bounds[0] === null || bounds[1] === null) return;
          const centre = across ? point.y : point.x;
          const low = valueScale.getPixelForValue(bounds[0]);
          const high = valueScale.getPixelForValue(bounds[1]);
          const cap = 4;
          context.beginPath();
          if (across) {
            context.moveTo(low, centre);
            context.lineTo(high, centre);
            context.moveTo(low, centre - cap);
            context.lineTo(low, centre + cap);
            context.moveTo(high, centre - cap);
            context.lineTo(high, centre + cap);
          } else {
            context.moveTo(centre, low);
            context.lineTo(centre, high);
            context.moveTo(centre - cap, low);
            context.lineTo(centre + cap, low);
            context.moveTo(centre - cap, high);
            context.lineTo(centre + cap, high);
          }
          context.stroke();
        });
        context.restore();
      });
    },
  };

  // a vertical line at the chosen round-trip time
  const rttMarker = {
    id: "rttMarker",
    afterDatasetsDraw(chart, args, options) {
      if (options.at === null || options.at === undefined) return;
      const x = chart.scales.x.getPixelForValue(options.at);
      const area = chart.chartArea;
      if (x < area.left || x > area.right) return;
      const context = chart.ctx;
      context.save();
      context.strokeStyle = "#444";
      context.setLineDash([4, 3]);
      context.beginPath();
      context.moveTo(x, area.top);
      context.lineTo(x, area.bottom);
      context.stroke();
      context.restore();
    },
  };

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

  function replaceChart(id, config) {
    if (charts[id]) charts[id].destroy();
    config.plugins = [errorBars, rttMarker];
    charts[id] = new Chart($(id), config);
  }

  function unitLabel() {
    return isConcurrent() ? "units of work per second" : "ms per unit of work";
  }

  function chartValue(seconds_) {
    return isConcurrent() ? seconds_ : seconds_ * 1000;
  }

  function drawTimeChart(cells) {
    const figures = cells.map(figure);
    const looks = cells.map((c) => VARIANTS.get(c.variant));
    const colors = looks.map((l) => l.color);
    const scale = (v) => (v === null || v === undefined ? null : chartValue(v));
    const rtt = rttMs();
    const where = isConcurrent()
      ? ""
      : rtt > 0
        ? " at " + rttText(rtt) + " per round trip"
        : " on this server";
    $("title-time").textContent =
      (isConcurrent() ? "Throughput" : "Time per unit of work") +
      where +
      ", " +
      state.workload +
      (isConcurrent() ? " with " + state.size + " workers" : " at size " + state.size) +
      " (95 % interval)";
    const datasets = [
      {
        label: isConcurrent() ? "units per second" : "median on this server",
        data: figures.map((f) => scale(f.server)),
        backgroundColor: looks.map((l) => fillOf(l)),
        borderColor: colors,
        borderWidth: 1,
        intervals: figures.map((f) => [scale(f.low), scale(f.high)]),
        stack: "time",
      },
    ];
    if (!isConcurrent()) {
      datasets.push({
        label: "+ round trips × RTT (projected)",
        data: figures.map((f) => scale(f.network)),
        backgroundColor: looks.map((l) => fillOf(l, 0.3)),
        borderColor: colors,
        borderWidth: 1,
        stack: "time",
      });
      datasets.push({
        label: "measured through the delay proxy",
        data: figures.map((f) => (f.kind === "measured" ? scale(f.measured) : 0)),
        backgroundColor: looks.map((l) => fillOf(l, 0.75)),
        borderColor: "#000",
        borderWidth: 1,
        stack: "time",
      });
    }
    replaceChart("chart-time", {
      type: "bar",
      data: { labels: cells.map((c) => c.variant), datasets },
      options: {
        indexAxis: "y",
        scales: {
          x: {
            stacked: true,
            beginAtZero: true,
            // room for the whiskers too
            suggestedMax: Math.max(0, ...figures.map((f) => scale(f.high) || 0)),
            title: { display: true, text: unitLabel() },
          },
          y: { stacked: true },
        },
        plugins: {
          legend: {
            display: !isConcurrent(),
            labels: {
              filter: (item, data) =>
                data.datasets[item.datasetIndex].data.some((v) => v !== null && v > 0),
              generateLabels: (chart) =>
                chart.data.datasets.map((dataset, i) => ({
                  text: dataset.label,
                  datasetIndex: i,
                  fillStyle: ["#555555", "#55555555", "#555555bf"][i],
                  strokeStyle: i === 2 ? "#000" : "#555",
                  lineWidth: 1,
                  hidden: !chart.isDatasetVisible(i),
                })),
            },
          },
          tooltip: {
            callbacks: {
              label: (context) => {
                const f = figures[context.dataIndex];
                const text = isConcurrent()
                  ? digits(f.value) + " units/s " + interval(f.low, f.high, digits)
                  : seconds(f.value) + " " + interval(f.low, f.high, seconds) + " " + f.kind;
                return context.datasetIndex === 0 ? text : null;
              },
            },
          },
          rttMarker: { at: null },
        },
      },
    });
  }

  function drawRttChart(cells) {
    const backend = BACKENDS.get(state.backend);
    const box = $("chart-rtt").parentElement;
    if (!projectable()) {
      $("title-rtt").textContent = "Time against round-trip time";
      $("rtt-chart-note").textContent = !backend.networked
        ? "No network on " + backend.title + ": nothing to project."
        : state.workload + " is not projected to a round-trip time.";
      box.hidden = true;
      if (charts["chart-rtt"]) charts["chart-rtt"].destroy();
      delete charts["chart-rtt"];
      return;
    }
    box.hidden = false;
    const rtt = STOPS[state.stop];
    // where decisions are made: 0 to 2 ms, unless a longer RTT is chosen
    const top = rtt > 2 ? STOPS[STOPS.length - 1] : 2;
    $("title-rtt").textContent =
      "Time against round-trip time, " + state.workload + " at size " + state.size + " (0 to " + top + " ms)";
    const datasets = [];
    for (const cell of cells) {
      const look = VARIANTS.get(cell.variant);
      const ms = (s) => s * 1000;
      // the projection from 0 to the axis' end, marked (with its interval) at the chosen RTT
      const at = [0, rtt, top];
      const shift = (x) => (cell.round_trips * x) / 1000;
      datasets.push({
        type: "line",
        label: cell.variant,
        data: at.map((x) => ({ x, y: ms(cell.median + shift(x)) })),
        borderColor: look.color,
        backgroundColor: look.color,
        borderDash: dash(look),
        borderWidth: 2,
        pointStyle: pointStyle(look),
        pointRadius: [0, 4, 0],
        intervals: [null, cell.ci ? [ms(cell.ci[0] + shift(rtt)), ms(cell.ci[1] + shift(rtt))] : null, null],
        intervalColor: alpha(look.color, 0.8),
      });
      const measured = Object.entries(cell.measured || {}).filter(([x]) => Number(x) <= top);
      if (measured.length) {
        datasets.push({
          type: "scatter",
          label: cell.variant + " measured",
          data: measured.map(([x, m]) => ({ x: Number(x), y: ms(m.median) })),
          borderColor: "#000",
          backgroundColor: look.color,
          pointRadius: 5,
          pointStyle: "rectRot",
          intervals: measured.map(([, m]) => (m.ci ? [ms(m.ci[0]), ms(m.ci[1])] : null)),
          intervalColor: "#000",
        });
      }
    }
    replaceChart("chart-rtt", {
      type: "line",
      data: { datasets },
      options: {
        parsing: false,
        scales: {
          x: { type: "linear", min: 0, max: top, title: { display: true, text: "round-trip time (ms)" } },
          y: {
            beginAtZero: true,
            suggestedMax: Math.max(0, ...datasets.flatMap((d) => d.intervals.map((i) => (i ? i[1] : 0)))),
            title: { display: true, text: "ms per unit of work" },
          },
        },
        plugins: {
          rttMarker: { at: rtt },
          // one entry per variant: the measured points are told by their diamonds
          legend: { labels: { boxWidth: 14, filter: (item) => !item.text.endsWith(" measured") } },
          tooltip: {
            callbacks: {
              label: (context) =>
                context.dataset.label + ": " + digits(context.parsed.y) + " ms at " + context.parsed.x + " ms",
            },
          },
        },
      },
    });
    $("rtt-chart-note").textContent =
      "Lines: projected from the direct median; the marks, at the chosen RTT, with their 95 % interval." +
      (backend.measured_rtts_ms.length ? " Diamonds: measured through the delay proxy." : "") +
      " Dashed vertical line: the chosen RTT.";
  }

  // a log axis labelled at 1, 2 and 5 times a power of ten only
  function logTick(value) {
    const mantissa = value / Math.pow(10, Math.floor(Math.log10(value) + 1e-9));
    return [1, 2, 5].some((d) => Math.abs(mantissa - d) < 1e-6) ? String(Number(value.toPrecision(3))) : "";
  }

  function drawSizeChart(cells) {
    const sizes = sizesOf(state.backend, state.workload);
    const box = $("chart-size").parentElement;
    const concurrent = isConcurrent();
    if (sizes.length < 2) {
      $("title-size").textContent = "Against size";
      $("size-chart-note").textContent = state.workload + " runs at one size only.";
      box.hidden = true;
      if (charts["chart-size"]) charts["chart-size"].destroy();
      delete charts["chart-size"];
      return;
    }
    box.hidden = false;
    const rtt = rttMs();
    $("title-size").textContent = concurrent
      ? "Throughput against worker threads, " + state.workload
      : "Time against size, " + state.workload + (rtt > 0 ? " at " + rttText(rtt) : "") + " (log–log)";
    const shown = new Set(cells.map((c) => c.variant));
    const datasets = [];
    for (const name of shownVariants(backendCells())) {
      if (!shown.has(name)) continue;
      const look = VARIANTS.get(name);
      const points = [];
      const intervals = [];
      for (const size of sizes) {
        const cell = CELLS.get(key(state.backend, state.workload, name, size));
        if (!cell) continue;
        const f = figure(cell);
        points.push({ x: size, y: chartValue(f.value) });
        intervals.push(f.low === null ? null : [chartValue(f.low), chartValue(f.high)]);
      }
      datasets.push({
        label: name,
        data: points,
        borderColor: look.color,
        backgroundColor: look.color,
        borderDash: dash(look),
        borderWidth: 2,
        pointStyle: pointStyle(look),
        pointRadius: 4,
        intervals,
        intervalColor: alpha(look.color, 0.8),
      });
    }
    const highs = datasets.flatMap((d) => d.intervals.map((i) => (i ? i[1] : 0)));
    replaceChart("chart-size", {
      type: "line",
      data: { datasets },
      options: {
        parsing: false,
        scales: {
          x: {
            type: "logarithmic",
            title: { display: true, text: concurrent ? "worker threads (K)" : "size (rows or parents)" },
            // a tick at every size the run has, and only there
            afterBuildTicks: (axis) => {
              axis.ticks = sizes.map((value) => ({ value }));
            },
            ticks: { callback: (value) => String(value) },
          },
          y: {
            type: concurrent ? "linear" : "logarithmic",
            beginAtZero: concurrent,
            suggestedMax: Math.max(...highs),
            title: { display: true, text: unitLabel() },
            ticks: concurrent ? {} : { callback: logTick },
          },
        },
        plugins: {
          rttMarker: { at: null },
          legend: { labels: { boxWidth: 14 } },
          tooltip: {
            callbacks: {
              label: (context) =>
                context.dataset.label + " at " + context.parsed.x + ": " + digits(context.parsed.y),
            },
          },
        },
      },
    });
    $("size-chart-note").textContent =
      "The chosen size is one point of each line; error bars: 95 % intervals" +
      (rtt > 0 ? ", at the chosen RTT." : ".");
  }

  // --- the table ------------------------------------------------------------------------------

  function drawTable(cells, absent) {
    const concurrent = isConcurrent();
    const rtt = rttMs();
    $("title-table").textContent =
      "Each variant: " + state.workload + (concurrent ? " with " + state.size + " workers" : " at size " + state.size) +
      (rtt > 0 ? ", at " + rttText(rtt) + " per round trip" : "");
    const heads = [
      "variant",
      concurrent ? "round of " + (cells[0] && cells[0].concurrency ? cells[0].concurrency.units : "") + " units" : "time per unit of work",
      "× " + DATA.baseline + " (95 %)",
    ];
    if (concurrent) heads.push("units per second", "p50 / p99 latency");
    heads.push("statements sent", "database statements", "round trips", "rows", "SQL against " + DATA.baseline, "SQL");
    const textColumns = new Set([0, heads.length - 2]);
    fill(
      $("cells-head"),
      ...heads.map((h, i) => element("th", { scope: "col", className: textColumns.has(i) ? "text" : null }, h))
    );
    const rows = cells.map((cell) => {
      const f = figure(concurrent ? Object.assign({}, cell, { concurrency: null }) : cell);
      const look = VARIANTS.get(cell.variant);
      const timeCell = element(
        "td",
        { className: "kind-" + f.kind },
        seconds(f.value),
        f.kind === "direct" ? null : element("span", { className: "kind" }, f.kind),
        element("br"),
        element("span", { className: "ci" }, interval(f.low, f.high, seconds))
      );
      const ratio = f.ratio;
      const ratioCell =
        cell.variant === DATA.baseline
          ? element("td", {}, "baseline")
          : ratio
            ? element(
                "td",
                {},
                digits(ratio[0]) + "×",
                element("br"),
                element("span", { className: "ci" }, interval(ratio[1], ratio[2], digits))
              )
            : element("td", {}, "–");
      const row = element(
        "tr",
        { "data-variant": cell.variant, className: cell.noisy ? "noisy" : null },
        element("td", { className: "text", title: look.label }, swatch(look), " ", cell.variant),
        timeCell,
        ratioCell
      );
      if (concurrent) {
        const c = cell.concurrency;
        row.append(
          element(
            "td",
            {},
            c ? digits(c.units_per_second) : "–",
            element("br"),
            element("span", { className: "ci" }, c && c.ci ? interval(c.ci[0], c.ci[1], digits) : "[no interval]")
          ),
          element("td", {}, c ? digits(c.p50_ms) + " / " + digits(c.p99_ms) + " ms" : "–")
        );
      }
      const same = cell.variant === DATA.baseline ? "the baseline" : cell.sql_vs_dbapi || "–";
      const button = element("button", { type: "button", className: "sql-open", "data-variant": cell.variant }, "SQL");
      button.addEventListener("click", () => openSql(cell.variant));
      row.append(
        element("td", {}, String(cell.cursor_calls)),
        element("td", {}, String(cell.db_statements)),
        element("td", {}, String(cell.round_trips)),
        element("td", {}, String(cell.rows)),
        element("td", { className: "text", title: same }, same === "same SQL" ? "same SQL" : same.length > 60 ? same.slice(0, 57) + "…" : same),
        element("td", {}, button)
      );
      return row;
    });
    fill($("cells").tBodies[0], ...rows);
    const notes = [];
    if (absent.length) notes.push("Not run for " + state.workload + " at this size: " + absent.join(", ") + ".");
    notes.push(
      "statements sent: the DB-API execute/executemany calls; database statements: what the server executed (BEGIN and COMMIT included); round trips: the times the client waited for the server."
    );
    $("table-note").textContent = notes.join(" ");
  }

  // --- the SQL panel ------------------------------------------------------------------------

  let sqlVariant = null;

  function sqlColumn(cell, name, other) {
    const parts = [element("h3", {}, name + (VARIANTS.get(name).label ? ": " + VARIANTS.get(name).label : ""))];
    const how = (DATA.how[state.workload] || {})[name];
    if (how) parts.push(element("p", { className: "note" }, "How: " + how));
    if (!cell) {
      parts.push(element("p", { className: "note" }, name + " did not run " + state.workload + " at this size."));
      return parts;
    }
    parts.push(
      element(
        "p",
        { className: "note" },
        "statements sent " + cell.cursor_calls + ", database statements " + cell.db_statements + ", round trips " + cell.round_trips +
          (name === DATA.baseline ? "" : "; against " + DATA.baseline + ": " + (cell.sql_vs_dbapi || "not declared"))
      )
    );
    if (!cell.sql) {
      parts.push(
        element(
          "p",
          { className: "sql-missing" },
          "SQL not recorded in this run; see ",
          element(
            "code",
            {},
            "python -m bench statements --workload " + state.workload + " --backend " + state.backend + " --size " + state.size
          )
        )
      );
      return parts;
    }
    const theirs = new Set(other && other.sql ? other.sql.statements.map((s) => s.sql) : []);
    const list = element("ol", { className: "statements" });
    for (const statement of cell.sql.statements) {
      const calls = statement.executemany
        ? "executemany × " + statement.calls + ", " + statement.parameter_sets + " parameter sets"
        : "× " + statement.calls;
      list.append(
        element(
          "li",
          { className: other && other.sql ? (theirs.has(statement.sql) ? "shared" : "own") : null },
          element("code", { className: "sql" }, statement.sql),
          element("span", { className: "calls" }, calls)
        )
      );
    }
    parts.push(list);
    if (cell.sql.left_out) {
      parts.push(
        element(
          "p",
          { className: "note" },
          "… and " + cell.sql.left_out + " more distinct statements (" + cell.sql.left_out_calls + " calls)."
        )
      );
    }
    return parts;
  }

  function drawSql(other) {
    const cellOf = (name) => CELLS.get(key(state.backend, state.workload, name, state.size));
    const mine = cellOf(sqlVariant);
    const theirs = cellOf(other);
    $("sql-title").textContent =
      "The SQL " + sqlVariant + " and " + other + " send: " + state.workload + " at size " + state.size + " on " + BACKENDS.get(state.backend).title;
    $("sql-about").textContent =
      "One counted execution, in the order first sent, no parameter values; green: a statement the other also sends, orange: one it does not.";
    fill($("sql-left"), ...sqlColumn(mine, sqlVariant, theirs));
    fill($("sql-right-body"), ...sqlColumn(theirs, other, mine));
  }

  function openSql(variant) {
    sqlVariant = variant;
    const names = variantsPresent(DATA.cells.filter((c) => c.backend === state.backend && c.workload === state.workload && c.size === state.size));
    const others = names.filter((n) => n !== variant);
    const chosen = variant !== DATA.baseline && others.includes(DATA.baseline) ? DATA.baseline : others[0] || variant;
    options(
      $("sql-other"),
      others.map((n) => ({ value: n, text: n })),
      chosen
    );
    drawSql(chosen);
    const panel = $("sql-panel");
    if (!panel.open) panel.showModal();
  }

  // --- putting it together ------------------------------------------------------------------

  function draw() {
    settle();
    drawFilters();
    const cells = shownVariants(backendCells())
      .map((name) => CELLS.get(key(state.backend, state.workload, name, state.size)))
      .filter(Boolean);
    const absent = shownVariants(backendCells()).filter(
      (name) => !CELLS.has(key(state.backend, state.workload, name, state.size))
    );
    drawTimeChart(cells);
    drawRttChart(cells);
    drawSizeChart(cells);
    drawTable(cells, absent);
    document.body.dataset.ready = "true";
  }

  function start() {
    const provenance = [];
    if (DATA.datetime) provenance.push("Run of " + DATA.datetime.replace("T", " ").slice(0, 16) + " UTC");
    if (DATA.command) provenance.push("command: " + DATA.command);
    if (DATA.commit) provenance.push("harness commit " + DATA.commit.slice(0, 12));
    $("provenance").textContent = provenance.join(" · ");
    // the view to open at: the page's own, or one named after '#' in its address
    // (backend=postgres&workload=crud_read&size=100&rtt=1&hide=orm_lazy,orm_joined)
    const asked = new URLSearchParams(location.hash.slice(1));
    if (BACKENDS.has(asked.get("backend"))) state.backend = asked.get("backend");
    if (WORKLOADS.has(asked.get("workload"))) state.workload = asked.get("workload");
    if (asked.has("size")) state.size = Number(asked.get("size")) || null;
    const rtt = asked.has("rtt") ? Number(asked.get("rtt")) : DATA.opening.rtt_ms;
    const opening = STOPS.indexOf(rtt);
    state.stop = opening < 0 ? STOPS.indexOf(DATA.opening.rtt_ms) : opening;
    if (state.stop < 0) state.stop = 0;
    for (const name of (asked.get("hide") || "").split(",")) {
      if (VARIANTS.has(name)) state.hidden.add(name);
    }
    $("backend").addEventListener("change", (event) => {
      state.backend = event.target.value;
      draw();
    });
    $("workload").addEventListener("change", (event) => {
      state.workload = event.target.value;
      draw();
    });
    $("size").addEventListener("change", (event) => {
      state.size = Number(event.target.value);
      draw();
    });
    $("rtt").addEventListener("input", (event) => {
      state.stop = Number(event.target.value);
      draw();
    });
    $("variants-all").addEventListener("click", () => {
      state.hidden.clear();
      draw();
    });
    $("variants-none").addEventListener("click", () => {
      for (const name of variantsPresent(backendCells())) state.hidden.add(name);
      draw();
    });
    $("sql-other").addEventListener("change", (event) => drawSql(event.target.value));
    $("sql-close").addEventListener("click", () => $("sql-panel").close());
    $("filters").addEventListener("submit", (event) => event.preventDefault());
    draw();
  }

  start();
})();
