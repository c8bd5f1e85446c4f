// Data → Reports: GET /v1/reports/payback (the table, sortable, and trial conversion by group)
// and GET /v1/reports/cohorts (the payback curves), drawn with the vendored uPlot. The date
// range and grouping live in the address, so a view is a link. window.FKReports holds the
// charts and the last answers, for whoever wants to check what was drawn.
"use strict";
(() => {
  const { $, el, text } = FK;
  const PARAMS = ["start_date", "end_date", "group_by", "cohort_window_days"];
  const DEFAULT_DAYS = 30; // without dates in the address: the last 30 days
  const GROUP_NAMES = {
    campaign: "campaign", ad_set: "ad set", creative: "creative", channel: "channel",
    country: "country", offer: "offer", paywall: "paywall",
  };
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
    "#4b5563", "#65a30d", "#9333ea"];

  // The table's columns: the field of a payback row, its title, how its value reads.
  const COLUMNS = [
    { key: "group", title: "Group", kind: "text" },
    { key: "users", title: "Users", kind: "count" },
    { key: "installs", title: "Installs", kind: "count" },
    { key: "spend", title: "Spend", kind: "money" },
    { key: "trials", title: "Trials", kind: "count" },
    { key: "trials_converted", title: "Trials converted", kind: "count" },
    { key: "subscriptions", title: "Subscribers", kind: "count" },
    { key: "renewals", title: "Renewals", kind: "count" },
    { key: "cac", title: "CAC", kind: "money" },
    { key: "trial_start_rate", title: "Trial start rate", kind: "rate" },
    { key: "trial_conversion_rate", title: "Trial conversion", kind: "rate" },
    { key: "renewal_rate", title: "Renewal rate", kind: "rate" },
    { key: "revenue", title: "Net revenue", kind: "money" },
    { key: "revenue_30d", title: "Net revenue 30 d", kind: "money" },
    { key: "revenue_60d", title: "Net revenue 60 d", kind: "money" },
    { key: "revenue_90d", title: "Net revenue 90 d", kind: "money" },
    { key: "roas_30d", title: "ROAS 30 d", kind: "rate" },
    { key: "roas_60d", title: "ROAS 60 d", kind: "rate" },
    { key: "roas_90d", title: "ROAS 90 d", kind: "rate" },
    { key: "payback_days", title: "Payback (days)", kind: "count" },
    { key: "ltv_projected", title: "LTV, 12 months", kind: "money" },
  ];

  /** How a value of a column reads: null is a dash; money has two decimals; rates are %. */
  function formatCell(kind, value) {
    if (value === null || value === undefined) return "\u2014";
    if (kind === "money") return FK.amount(value);
    if (kind === "rate") return FK.percent(value);
    return String(value);
  }

  /**
   * Rows sorted by `key` (`dir` 1 ascending, -1 descending) without moving equal rows, and
   * with the rows that have no value last either way. Numbers compare as numbers, the rest
   * as strings by code unit.
   */
  function sortRows(rows, key, dir) {
    const missing = (v) => v === null || v === undefined;
    return rows.slice().sort((a, b) => {
      const x = a[key];
      const y = b[key];
      if (missing(x) || missing(y)) return missing(x) - missing(y);
      if (typeof x === "number" && typeof y === "number") return (x - y) * dir;
      const [s, t] = [String(x), String(y)];
      return (s < t ? -1 : s > t ? 1 : 0) * dir;
    });
  }

  /** The payback curves' data: x = weeks since the cohort week; per cohort its cumulative
   * net revenue (null past the weeks it has lived) and, when known, its spend as a flat line. */
  function curveData(cohorts) {
    const weeks = Math.max(0, ...cohorts.map((c) => c.weeks.length));
    const x = Array.from({ length: weeks }, (_, i) => i);
    const series = [];
    cohorts.forEach((cohort, i) => {
      const color = PALETTE[i % PALETTE.length];
      const name = text(cohort.group) + " \u00b7 week of " + text(cohort.cohort_week);
      series.push({ label: name, stroke: color, width: 2,
        values: x.map((w) => (w < cohort.weeks.length ? cohort.weeks[w].cumulative_net_revenue : null)) });
      if (cohort.spend !== null && cohort.spend !== undefined) {
        series.push({ label: name + " spend", stroke: color, width: 1, dash: [6, 4],
          points: { show: false }, values: x.map(() => cohort.spend) });
      }
    });
    return { x, series };
  }

  /** Trial conversion per group, in the report's order (null where a group had no trial). */
  function conversionData(rows) {
    return { groups: rows.map((r) => text(r.group)), values: rows.map((r) => r.trial_conversion_rate ?? null) };
  }

  // ---- The page ----

  let applied = withDefaults(FK.queryValues(PARAMS));
  let generation = 0;
  let shownRows = [];
  let sort = { key: null, dir: 1 };
  const state = { payback: null, cohorts: null, charts: { curves: null, conversion: null } };
  window.FKReports = Object.assign(state, { formatCell, sortRows, curveData, conversionData, COLUMNS });

  function withDefaults(values) {
    const out = { ...values };
    if (!out.end_date) out.end_date = new Date().toISOString().slice(0, 10);
    if (!out.start_date) {
      const start = new Date(out.end_date + "T00:00:00Z");
      start.setUTCDate(start.getUTCDate() - (DEFAULT_DAYS - 1));
      out.start_date = Number.isNaN(start.getTime()) ? "" : start.toISOString().slice(0, 10);
    }
    if (!out.group_by) out.group_by = "campaign";
    return out;
  }

  function fillForm() {
    for (const name of PARAMS) $("f-" + name).value = applied[name] || "";
    const group = GROUP_NAMES[applied.group_by] || applied.group_by;
    for (const node of document.querySelectorAll(".group-name")) node.textContent = group;
  }

  function headCell(column, currency) {
    const money = column.kind === "money" && currency ? " (" + currency + ")" : "";
    const title = column.key === "group" ? (GROUP_NAMES[applied.group_by] || "group") : column.title;
    const button = el("button", { type: "button", class: "sort" }, title.charAt(0).toUpperCase() + title.slice(1) + money);
    button.addEventListener("click", () => sortBy(column.key));
    const current = sort.key === column.key ? (sort.dir === 1 ? "ascending" : "descending") : null;
    return el("th", { "data-key": column.key, "aria-sort": current, class: column.kind === "text" ? "" : "num" }, button);
  }

  function bodyRow(row) {
    return el("tr", { "data-group": text(row.group) }, COLUMNS.map((column) => {
      const value = row[column.key] ?? null;
      return el("td", { "data-key": column.key, "data-value": JSON.stringify(value),
        class: column.kind === "text" ? "group" : "num" }, formatCell(column.kind, value));
    }));
  }

  function showTable() {
    const rows = state.payback ? state.payback.rows : [];
    shownRows = sort.key ? sortRows(rows, sort.key, sort.dir) : rows.slice();
    const currency = state.payback ? state.payback.meta.currency : "";
    $("payback-head").replaceChildren(...COLUMNS.map((c) => headCell(c, currency)));
    $("payback-rows").replaceChildren(...shownRows.map(bodyRow));
    $("payback-empty").hidden = !state.payback || rows.length > 0;
  }

  function sortBy(key) {
    sort = { key, dir: sort.key === key ? -sort.dir : 1 };
    showTable();
  }

  function showMeta(meta) {
    const parts = ["Amounts in " + meta.currency, "payback window " + meta.cohort_window_days + " days"];
    if (meta.unconverted_events) {
      parts.push(meta.unconverted_events + " revenue events left out (no exchange rate for their day and currency)");
    }
    if (meta.ltv_method) parts.push("LTV: " + meta.ltv_method);
    if (meta.latest_event_at) parts.push("newest event " + FK.formatTime(meta.latest_event_at));
    if (meta.generated_at) parts.push("generated " + FK.formatTime(meta.generated_at));
    $("report-meta").textContent = parts.join(" \u00b7 ") + ".";
    $("report-meta").hidden = false;
    showAsOf(meta.as_of);
  }

  /** meta.as_of: a log position (as the other pages show it) or the newest event's time. */
  function showAsOf(asOf) {
    if (typeof asOf === "number") {
      FK.asOf(asOf);
      return;
    }
    const line = $("as-of");
    line.textContent = asOf ? "Data as of the newest event seen, " + FK.formatTime(asOf) + "." : "No event seen yet.";
    line.dataset.asOf = text(asOf);
    line.hidden = false;
  }

  // ---- Charts (uPlot) ----

  function chartWidth(box) {
    return Math.max(320, box.clientWidth || box.parentNode.clientWidth || 640);
  }

  function replaceChart(name, box, make) {
    if (state.charts[name]) state.charts[name].destroy();
    state.charts[name] = null;
    box.replaceChildren();
    if (make) state.charts[name] = make();
  }

  function drawCurves(cohorts, currency) {
    const { x, series } = curveData(cohorts);
    const box = $("curves-chart");
    const empty = x.length === 0 || series.length === 0;
    $("curves-empty").hidden = !empty;
    box.hidden = empty;
    replaceChart("curves", box, empty ? null : () => new uPlot({
      width: chartWidth(box), height: 320,
      scales: { x: { time: false } },
      axes: [{ label: "Weeks since the cohort week", incrs: [1, 2, 4, 8, 13, 26, 52] },
        { label: "Net revenue (" + currency + ")" }],
      series: [{ label: "Week" }, ...series.map(({ values, ...look }) => ({ ...look, spanGaps: false }))],
    }, [x, ...series.map((s) => s.values)], box));
  }

  function drawConversion(rows) {
    const { groups, values } = conversionData(rows);
    const box = $("conversion-chart");
    const empty = values.every((v) => v === null);
    $("conversion-empty").hidden = !empty;
    box.hidden = empty;
    const x = groups.map((_, i) => i);
    replaceChart("conversion", box, empty ? null : () => new uPlot({
      width: chartWidth(box), height: 260,
      scales: { x: { time: false, range: [-0.5, Math.max(0.5, groups.length - 0.5)] }, y: { range: [0, 1] } },
      axes: [
        { splits: () => x, values: (u, splits) => splits.map((i) => groups[i] ?? ""), gap: 6 },
        { values: (u, splits) => splits.map((v) => Math.round(v * 100) + " %") },
      ],
      series: [{ label: "Group", value: (u, i) => (i === null ? "" : groups[i] ?? "") },
        { label: "Trial conversion", stroke: PALETTE[0], fill: PALETTE[0] + "99",
          paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false },
          value: (u, v) => FK.percent(v) }],
    }, [x, values], box));
  }

  function clearReport() {
    state.payback = null;
    state.cohorts = null;
    shownRows = [];
    showTable();
    $("report-meta").hidden = true;
    for (const name of ["curves", "conversion"]) replaceChart(name, $(name + "-chart"), null);
    for (const id of ["curves-empty", "conversion-empty"]) $(id).hidden = true;
  }

  async function load() {
    const mine = ++generation;
    FK.clearMessage();
    const params = { start_date: applied.start_date, end_date: applied.end_date, group_by: applied.group_by,
      cohort_window_days: applied.cohort_window_days };
    const cohortParams = { cohort_start: applied.start_date, cohort_end: applied.end_date, group_by: applied.group_by };
    try {
      // Both at once; when both fail, the payback report's error is the one shown (it names the
      // form's parameters), whichever answered first.
      const answers = await Promise.allSettled([
        FK.api("/v1/reports/payback", params), FK.api("/v1/reports/cohorts", cohortParams)]);
      const failed = answers.find((answer) => answer.status === "rejected");
      if (failed) throw failed.reason;
      const [payback, cohorts] = answers.map((answer) => answer.value);
      if (mine !== generation) return;
      state.payback = payback;
      state.cohorts = cohorts;
      showTable();
      showMeta(payback.meta);
      drawCurves(cohorts.cohorts, payback.meta.currency);
      drawConversion(payback.rows);
    } catch (err) {
      if (mine !== generation) return;
      clearReport();
      FK.showError(err);
    }
  }

  function apply() {
    applied = {};
    for (const name of PARAMS) applied[name] = $("f-" + name).value.trim();
    applied = withDefaults(applied);
    fillForm();
    FK.setQuery(applied);
    load();
  }

  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    apply();
  });
  $("f-group_by").addEventListener("change", apply);
  window.addEventListener("popstate", () => {
    applied = withDefaults(FK.queryValues(PARAMS));
    fillForm();
    load();
  });
  window.addEventListener("resize", () => {
    for (const [name, chart] of Object.entries(state.charts)) {
      if (chart) chart.setSize({ width: chartWidth($(name + "-chart")), height: chart.height });
    }
  });

  fillForm();
  showTable();
  FK.start(load);
})();
