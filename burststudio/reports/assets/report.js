// Draws a BurstStudio report from the JSON in #report-data with uPlot (inlined beside this script).
// Every time chart shares one cursor and one zoom: drag to zoom any of them, double-click to reset.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const runs = data.runs;
  const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
  const OUTCOME_COLOURS = {ok: "#2ca02c", cancelled: "#7f7f7f"};
  const FAIL_COLOURS = ["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#1f77b4"];
  const charts = [];
  let zooming = false;

  function width(el) { return Math.max(320, el.clientWidth - 8); }

  function timeFmt(s) {
    if (s == null) return "";
    const a = Math.abs(s);
    if (a >= 2 * 86400) return (s / 86400).toFixed(1) + " d";
    if (a >= 2 * 3600) return (s / 3600).toFixed(1) + " h";
    if (a >= 120) return (s / 60).toFixed(1) + " min";
    return (+s.toFixed(2)) + " s";
  }

  function shade(u) {
    // Burst episodes (or the busiest windows) behind the series.
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = "rgba(255, 160, 0, 0.13)";
    for (const ep of data.shaded || []) {
      const x0 = u.valToPos(ep[0], "x", true), x1 = u.valToPos(ep[1], "x", true);
      const l = Math.max(u.bbox.left, x0), r = Math.min(u.bbox.left + u.bbox.width, x1);
      if (r > l) ctx.fillRect(l, u.bbox.top, r - l, u.bbox.height);
    }
    ctx.restore();
  }

  function syncZoom(u, key) {
    if (key !== "x" || zooming) return;
    zooming = true;
    const {min, max} = u.scales.x;
    for (const c of charts) if (c !== u) c.setScale("x", {min, max});
    zooming = false;
  }

  // A time chart: `lines` is a list of {label, run (index), values (aligned with that run's story.t), scale}.
  function timeChart(el, lines, yLabel, yFmt, opts) {
    opts = opts || {};
    const tables = [];
    const series = [{label: "time", value: (u, v) => timeFmt(v)}];
    lines.forEach((ln, k) => {
      tables.push([runs[ln.run].story.t, ln.values]);
      series.push({label: ln.label, stroke: ln.colour || COLOURS[k % COLOURS.length], width: 1.5,
                   spanGaps: !!opts.spanGaps, points: {show: opts.spanGaps ? undefined : false},
                   value: (u, v) => (v == null ? "-" : yFmt(v))});
    });
    if (!tables.length) { el.textContent = "no data in this run"; return; }
    const joined = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const u = new uPlot({
      width: width(el), height: opts.height || 190,
      cursor: {sync: {key: "story", setSeries: false}, drag: {x: true, y: false}},
      scales: {x: {time: false}, y: {range: opts.yRange || fromZero}},
      axes: [{values: (u, vals) => vals.map(timeFmt), space: 70},
             {label: yLabel, values: (u, vals) => vals.map(yFmt), size: 60}],
      series: series,
      hooks: {drawClear: [shade], setScale: [syncZoom]},
    }, joined, el);
    charts.push(u);
  }

  function ms(v) {
    const m = v * 1000, a = Math.abs(m);
    if (a >= 10) return m.toFixed(0);
    if (a >= 1) return m.toFixed(1);
    return a === 0 ? "0" : (+m.toPrecision(2)).toString();
  }
  // Log axes label the powers of ten only; the other ticks stay as grid lines.
  // Within two decades, 1-2-5 steps are labelled too, so a narrow range still reads.
  function decades(fmt) {
    return (u, vals) => {
      const pos = vals.filter(v => v > 0);
      const wide = pos.length && Math.log10(Math.max(...pos) / Math.min(...pos)) > 2;
      return vals.map(v => {
        if (!(v > 0)) return "";
        const mant = v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
        const near = x => Math.abs(mant - x) < 1e-6 * x;
        return near(1) || (!wide && (near(2) || near(5))) ? fmt(v) : "";
      });
    };
  }
  // From zero (or below, for a negative value) to a little over the top, and never a zero-height range.
  const fromZero = (u, min, max) => [Math.min(0, min || 0), (max > 0 ? max : (min < 0 ? 0 : 1)) * 1.08];
  const num = v => (Math.abs(v) >= 100 ? v.toFixed(0) : (+v.toFixed(2)).toString());
  const pct = v => (v * 100).toFixed(0) + "%";
  const scaled = (xs, k) => xs.map(v => (v == null ? null : v * k));

  function perRun(fn) {
    const out = [];
    runs.forEach((r, i) => fn(r, i, out));
    return out;
  }
  const prefix = (r, label) => (runs.length > 1 ? r.label + ": " + label : label);
  const colourOf = (i, k) => COLOURS[(i * 3 + k) % COLOURS.length];

  function drawStory() {
    const get = id => document.getElementById(id);
    timeChart(get("chart-rate"), perRun((r, i, o) => {
      o.push({label: prefix(r, "scheduled"), run: i, values: r.story.scheduled_per_s, colour: colourOf(i, 0)});
      o.push({label: prefix(r, "sent"), run: i, values: r.story.sent_per_s, colour: colourOf(i, 1)});
      o.push({label: prefix(r, "finished"), run: i, values: r.story.finished_per_s, colour: colourOf(i, 2)});
    }), "req/s", num);
    timeChart(get("chart-ttft"), perRun((r, i, o) => {
      o.push({label: prefix(r, "TTFT p50"), run: i, values: r.story.ttft_p50_s, colour: colourOf(i, 0)});
      o.push({label: prefix(r, "TTFT p99"), run: i, values: r.story.ttft_p99_s, colour: colourOf(i, 1)});
    }), "ms", ms, {spanGaps: true});
    timeChart(get("chart-itl"), perRun((r, i, o) => {
      o.push({label: prefix(r, "ITL p50"), run: i, values: r.story.itl_p50_s, colour: colourOf(i, 0)});
      o.push({label: prefix(r, "ITL p99"), run: i, values: r.story.itl_p99_s, colour: colourOf(i, 1)});
    }), "ms", ms, {spanGaps: true});
    timeChart(get("chart-kv"), perRun((r, i, o) => {
      if (r.story.server.kv_cache_usage)
        o.push({label: prefix(r, "KV cache usage"), run: i, values: r.story.server.kv_cache_usage,
                colour: colourOf(i, 0)});
    }), "", pct, {yRange: [0, 1.05]});
    timeChart(get("chart-queue"), perRun((r, i, o) => {
      if (r.story.server.running)
        o.push({label: prefix(r, "running"), run: i, values: r.story.server.running, colour: colourOf(i, 0)});
      if (r.story.server.waiting)
        o.push({label: prefix(r, "waiting"), run: i, values: r.story.server.waiting, colour: colourOf(i, 1)});
    }), "requests", num);
    timeChart(get("chart-preempt"), perRun((r, i, o) => {
      if (r.story.server.preemptions_total)
        o.push({label: prefix(r, "preemptions/s"), run: i, values: r.story.server.preemptions_total,
                colour: colourOf(i, 0)});
      if (r.story.server.admission_rejections_total)
        o.push({label: prefix(r, "rejections/s"), run: i, values: r.story.server.admission_rejections_total,
                colour: colourOf(i, 1)});
    }), "per s", num);
    timeChart(get("chart-failures"), perRun((r, i, o) => {
      Object.entries(r.story.failures_per_s).forEach(([cls, vals], k) =>
        o.push({label: prefix(r, cls), run: i, values: vals, colour: FAIL_COLOURS[(i * 2 + k) % FAIL_COLOURS.length]}));
    }), "per s", num);
    timeChart(get("chart-lateness"), perRun((r, i, o) => {
      o.push({label: prefix(r, "lateness p99"), run: i, values: r.story.lateness_p99_s, colour: colourOf(i, 0)});
    }), "ms", ms);
    // A fleet's panel per replica (ids from html.py's replica_chart): its own KV cache and queue.
    runs.forEach((r, i) => Object.entries(r.story.replicas || {}).forEach(([name, s], k) => {
      const kv = get(`chart-rep-${i}-${k}-kv`), queue = get(`chart-rep-${i}-${k}-queue`);
      if (!kv || !queue) return;
      timeChart(kv, s.kv_cache_usage ? [{label: "KV cache usage", run: i, values: s.kv_cache_usage,
                                          colour: colourOf(k, 0)}] : [], "", pct, {yRange: [0, 1.05], height: 140});
      const q = [];
      if (s.running) q.push({label: "running", run: i, values: s.running, colour: colourOf(0, 0)});
      if (s.waiting) q.push({label: "waiting", run: i, values: s.waiting, colour: colourOf(0, 1)});
      timeChart(queue, q, "requests", num, {height: 140});
    }));
  }

  // Per-request points: x the scheduled arrival, y the latency (log scale), one series per run and outcome.
  function scatter(el, key) {
    const tables = [], series = [{label: "arrival", value: (u, v) => timeFmt(v)}];
    runs.forEach((r, i) => {
      const p = r.points;
      const kinds = [...new Set(p.outcome)];
      kinds.forEach((kind, k) => {
        const xs = [], ys = [];
        p.t.forEach((t, j) => {
          const y = p[key][j];
          if (p.outcome[j] === kind && t != null && y != null && y > 0) { xs.push(t); ys.push(y); }
        });
        if (!xs.length) return;
        const order = xs.map((_, j) => j).sort((a, b) => xs[a] - xs[b]);
        tables.push([order.map(j => xs[j]), order.map(j => ys[j])]);
        const colour = OUTCOME_COLOURS[kind] || FAIL_COLOURS[k % FAIL_COLOURS.length];
        series.push({label: prefix(r, kind), stroke: runs.length > 1 ? COLOURS[i % COLOURS.length] : colour,
                     fill: colour, paths: () => null, points: {show: true, size: 4, width: 0.5, fill: colour},
                     value: (u, v) => (v == null ? "-" : ms(v) + " ms")});
      });
    });
    if (!tables.length) { el.textContent = "no request has this figure"; return; }
    new uPlot({
      width: width(el), height: 230, cursor: {drag: {x: true, y: true, uni: 20}},
      scales: {x: {time: false}, y: {distr: 3}},
      axes: [{values: (u, vals) => vals.map(timeFmt), space: 70}, {label: "ms", values: decades(ms), size: 60}],
      series: series, hooks: {drawClear: [shade]},
    }, tables.length === 1 ? tables[0] : uPlot.join(tables), el);
  }

  function cdfs(el, key) {
    const tables = [], series = [{label: "ms", value: (u, v) => (v == null ? "" : ms(v))}];
    runs.forEach((r, i) => {
      const c = r.cdfs[key];
      if (!c.x.length) return;
      // uPlot needs rising x without repeats: keep the highest share reached at each value.
      const xs = [], ys = [];
      c.x.forEach((x, j) => {
        if (xs.length && x <= xs[xs.length - 1]) ys[ys.length - 1] = c.y[j];
        else { xs.push(x); ys.push(c.y[j]); }
      });
      tables.push([xs, ys]);
      series.push({label: runs.length > 1 ? r.label : c.label, stroke: COLOURS[i % COLOURS.length], width: 1.5,
                   value: (u, v) => (v == null ? "-" : pct(v))});
    });
    if (!tables.length) { el.textContent = "no request has this figure"; return; }
    const positive = tables.every(t => t[0][0] > 0);
    new uPlot({
      width: Math.max(280, (el.clientWidth || 600) - 8), height: 200,
      scales: {x: {time: false, distr: positive ? 3 : 1}, y: {range: [0, 1]}},
      axes: [{values: positive ? decades(ms) : (u, v) => v.map(ms), label: "ms"},
             {values: (u, v) => v.map(pct), size: 50}],
      series: series,
    }, tables.length === 1 ? tables[0] : uPlot.join(tables), el);
  }

  function knee(el) {
    const s = data.sweep, key = s.plot_key;
    const rows = s.runs.filter(r => typeof (r.point || {})[key] === "number")
      .sort((a, b) => a.point[key] - b.point[key]);
    const x = rows.map(r => r.point[key]);
    const knee = (s.knee || {}).value;
    new uPlot({
      width: width(el), height: 260,
      scales: {x: {time: false}, share: {range: [0, 1.05]}, ms: {}},
      axes: [{label: key === "rate-scale" ? "rate scale" : key,
              values: (u, v) => v.map(x => (key === "rate-scale" ? x + "x" : String(x)))},
             {scale: "share", label: "goodput", values: (u, v) => v.map(pct), size: 55},
             {scale: "ms", side: 1, label: "TTFT ms", values: (u, v) => v.map(ms), size: 60, grid: {show: false}}],
      series: [{label: key},
               {label: "goodput", scale: "share", stroke: COLOURS[2], width: 2, value: (u, v) => (v == null ? "-" : pct(v))},
               {label: "TTFT p50", scale: "ms", stroke: COLOURS[0], width: 1.5, value: (u, v) => (v == null ? "-" : ms(v))},
               {label: "TTFT p99", scale: "ms", stroke: COLOURS[1], width: 1.5, value: (u, v) => (v == null ? "-" : ms(v))}],
      hooks: {draw: [u => {
        if (typeof knee !== "number") return;
        const px = u.valToPos(knee, "x", true);
        u.ctx.save(); u.ctx.strokeStyle = "#d62728"; u.ctx.setLineDash([5, 4]);
        u.ctx.beginPath(); u.ctx.moveTo(px, u.bbox.top); u.ctx.lineTo(px, u.bbox.top + u.bbox.height); u.ctx.stroke();
        u.ctx.restore();
      }]},
    }, [x, rows.map(r => r.goodput), rows.map(r => r.ttft_p50_s), rows.map(r => r.ttft_p99_s)], el);
  }

  function draw() {
    if (data.sweep && data.sweep.plot_key) knee(document.getElementById("chart-knee"));
    drawStory();
    scatter(document.getElementById("chart-scatter-ttft"), "ttft_s");
    scatter(document.getElementById("chart-scatter-e2e"), "e2e_s");
    for (const key of ["ttft_s", "tpot_s", "itl_s", "e2e_s"]) cdfs(document.getElementById("chart-cdf-" + key), key);
    document.body.setAttribute("data-drawn", "1");
    document.body.setAttribute("data-drawn-ms", String(Math.round(performance.now())));
  }
  draw();
})();
