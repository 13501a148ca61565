// Charts of the HQ dashboard (/hq/). The page's tables hold the same numbers and work
// without JavaScript; this only draws them. Data: the json_script "dashboard-charts".
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

// Register only what the page draws: keeps the bundle small.
Chart.register(
  ArcElement, BarController, BarElement, CategoryScale, DoughnutController, Legend,
  LinearScale, LineController, LineElement, PointElement, Tooltip,
);

const COLORS = ["#06c755", "#2563eb", "#f59e0b", "#db2777", "#7c3aed", "#0891b2"];
const yen = (value) => `¥${Number(value).toLocaleString("ja-JP")}`;
const count = (value) => Number(value).toLocaleString("ja-JP");

function draw(id, config) {
  const canvas = document.getElementById(id);
  if (canvas) new Chart(canvas, { ...config, options: { maintainAspectRatio: false, ...config.options } });
}

const source = document.getElementById("dashboard-charts");
const charts = source ? JSON.parse(source.textContent) : null;
if (charts) {
  const shortDay = (iso) => iso.slice(5).replace("-", "/");
  draw("chart-sales", {
    type: "bar",
    data: {
      labels: charts.sales.labels.map(shortDay),
      datasets: [
        { label: "売上（純額）", data: charts.sales.net, backgroundColor: COLORS[0] },
        { label: "うち連携会員", data: charts.sales.linked, type: "line", borderColor: COLORS[1], pointRadius: 0 },
      ],
    },
    options: {
      scales: { y: { ticks: { callback: yen } } },
      plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${yen(c.raw)}` } } },
    },
  });
  draw("chart-links", {
    type: "bar",
    data: {
      labels: charts.links.labels.map(shortDay),
      datasets: charts.links.series.map((s, i) => ({ ...s, backgroundColor: COLORS[i] })),
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: count } } } },
  });
  draw("chart-stores", {
    type: "bar",
    data: { labels: charts.stores.labels, datasets: [{ label: "売上（純額）", data: charts.stores.net, backgroundColor: COLORS[0] }] },
    options: { indexAxis: "y", scales: { x: { ticks: { callback: yen } } }, plugins: { legend: { display: false } } },
  });
  if (charts.tiers) {
    draw("chart-tiers", {
      type: "doughnut",
      data: { labels: charts.tiers.labels, datasets: [{ data: charts.tiers.members, backgroundColor: COLORS }] },
    });
  }
}
