// The dashboard's charts: one JSON document (GET data-source), drawn with Chart.js (window.Chart, loaded before).
// Colours come from CSS variables, so both themes read; each chart has a table beside it for screen readers.
const root = document.getElementById("charts");
const labels = JSON.parse(root.dataset.labels);
const locale = document.documentElement.lang || undefined;
const numberFormat = new Intl.NumberFormat(locale);
const charts = [];

function palette() {
  const style = getComputedStyle(document.documentElement);
  const get = (name) => style.getPropertyValue(name).trim();
  return {
    series: Array.from({ length: 8 }, (_, i) => get(`--chart-${i + 1}`)),
    text: get("--muted"), grid: get("--border"), error: get("--error-text"),
  };
}

function shortDay(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(locale, { month: "short", day: "numeric", timeZone: "UTC" });
}

function options(extra = {}) {
  return {
    responsive: true, maintainAspectRatio: false, animation: false,
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { position: "bottom" } },
    ...extra,
  };
}

function colour(dataset, i, colours) {
  const c = dataset.colour || colours.series[i % colours.series.length];
  return { ...dataset, borderColor: c, backgroundColor: c, pointRadius: dataset.pointRadius ?? 2.5 };
}

// A small table with the chart's numbers: the same data for screen readers and for reading exact values.
function table(id, head, rows) {
  const box = document.getElementById(`${id}-table`);
  if (!box) return;
  const t = document.createElement("table");
  t.className = "table";
  const tr = t.createTHead().insertRow();
  for (const h of head) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    tr.appendChild(th);
  }
  const body = t.createTBody();
  for (const row of rows) {
    const r = body.insertRow();
    row.forEach((value, i) => {
      const cell = r.insertCell();
      cell.textContent = value === null || value === undefined ? "—" : (typeof value === "number" ? numberFormat.format(value) : value);
      if (i) cell.className = "num";
    });
  }
  box.replaceChildren(t);
}

function draw(canvas, config) {
  const colours = palette();
  const chart = new window.Chart(canvas, config);
  chart.$restyle = () => {
    const c = palette();
    chart.data.datasets = chart.data.datasets.map((d, i) => colour({ ...d, colour: d.fixed ? c.error : undefined }, i, c));
    for (const scale of Object.values(chart.options.scales || {})) {
      scale.ticks = { ...(scale.ticks || {}), color: c.text };
      scale.grid = { ...(scale.grid || {}), color: c.grid };
    }
    chart.options.plugins.legend.labels = { color: c.text };
    chart.update();
  };
  chart.$restyle();
  charts.push(chart);
  return chart;
}

function byDay(data) {
  const days = data.days.map(shortDay);
  draw(document.getElementById("chart-requests"), {
    type: "line",
    data: { labels: days, datasets: [
      { label: labels.requests, data: data.requests },
      { label: labels.failed, data: data.failed, fixed: true },
      { label: labels.errors, data: data.errors, borderDash: [4, 3] },
    ] },
    options: options({ scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }),
  });
  table("chart-requests", [labels.day, labels.requests, labels.failed, labels.errors],
    data.days.map((d, i) => [d, data.requests[i], data.failed[i], data.errors[i]]));

  const series = [
    [labels.latency_p50, data.latency.p50], [labels.latency_p95, data.latency.p95],
    [labels.ttft_p50, data.ttft.p50], [labels.ttft_p95, data.ttft.p95],
  ];
  draw(document.getElementById("chart-latency"), {
    type: "line",
    data: { labels: days, datasets: series.map(([label, values], i) => ({
      label, data: values, spanGaps: false, borderDash: i >= 2 ? [4, 3] : undefined })) },
    options: options({ scales: { y: { beginAtZero: true, title: { display: true, text: labels.ms } } } }),
  });
  table("chart-latency", [labels.day, ...series.map((s) => s[0])],
    data.days.map((d, i) => [d, ...series.map((s) => s[1][i])]));
}

function costs(data) {
  const box = document.getElementById("cost-charts");
  if (!data.cost.length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.id = "no-cost";
    p.textContent = labels.no_cost;
    box.appendChild(p);
    return;
  }
  for (const { currency, upstreams } of data.cost) {
    const title = labels.cost_title.replace("{currency}", currency);
    const id = `chart-cost-${currency.toLowerCase()}`;
    const wrap = document.createElement("div");
    wrap.className = "chart-box";
    const canvas = document.createElement("canvas");
    canvas.id = id;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", title);
    canvas.dataset.currency = currency;
    wrap.appendChild(canvas);
    const heading = document.createElement("h3");
    heading.textContent = title;
    const details = document.createElement("details");
    details.className = "chart-table";
    const summary = document.createElement("summary");
    summary.textContent = labels.table;
    const tableBox = document.createElement("div");
    tableBox.id = `${id}-table`;
    details.append(summary, tableBox);
    box.append(heading, wrap, details);
    const money = new Intl.NumberFormat(locale, { style: "currency", currency, maximumFractionDigits: 6 });
    draw(canvas, {
      type: "bar",
      data: { labels: data.days.map(shortDay),
              datasets: upstreams.map((u) => ({ label: u.upstream, data: u.amounts.map(Number) })) },
      options: options({
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true,
                                               ticks: { callback: (v) => money.format(v) } } },
        plugins: { legend: { position: "bottom" },
                   tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${money.format(c.parsed.y)}` } } },
      }),
    });
    // The table keeps the exact decimal strings.
    table(id, [labels.day, ...upstreams.map((u) => u.upstream)],
      data.days.map((d, i) => [d, ...upstreams.map((u) => u.amounts[i])]));
  }
}

function models(data) {
  const names = data.models.map((m) => m.model === null ? labels.other_models.replace("{count}", m.models)
    : (m.model || labels.unknown_model));
  draw(document.getElementById("chart-models"), {
    type: "bar",
    data: { labels: names, datasets: [
      { label: labels.prompt, data: data.models.map((m) => m.prompt) },
      { label: labels.completion, data: data.models.map((m) => m.completion) },
    ] },
    options: options({ indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true } } }),
  });
  table("chart-models", [labels.model, labels.prompt, labels.completion],
    data.models.map((m, i) => [names[i], m.prompt, m.completion]));
}

function sites(data) {
  draw(document.getElementById("chart-sites"), {
    type: "bar",
    data: { labels: data.sites.map((s) => s.site), datasets: [
      { label: labels.requests, data: data.sites.map((s) => s.requests) },
      { label: labels.failed, data: data.sites.map((s) => s.failed), fixed: true },
    ] },
    options: options({ indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: {} } }),
  });
  table("chart-sites", [labels.site, labels.requests, labels.failed],
    data.sites.map((s) => [s.site, s.requests, s.failed]));
}

async function main() {
  try {
    const response = await fetch(root.dataset.source, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(String(response.status));
    const data = await response.json();
    byDay(data);
    costs(data);
    models(data);
    sites(data);
  } catch (e) {
    const error = document.getElementById("charts-error");
    error.textContent = labels.load_error;
    error.hidden = false;
  } finally {
    root.setAttribute("aria-busy", "false");
    root.dataset.ready = "true";
  }
}

// A theme change (the button, or the system's) redraws with that theme's colours.
const restyle = () => charts.forEach((c) => c.$restyle());
new MutationObserver(restyle).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", restyle);

main();
