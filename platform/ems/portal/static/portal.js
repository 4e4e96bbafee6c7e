// The portal's behaviour beyond plain HTML: auto-submitting selects, ECharts from data
// attributes, and the session timeout. Everything works without it except the charts.
(function () {
  "use strict";

  function autosubmit(root) {
    root.querySelectorAll("[data-autosubmit]").forEach(function (el) {
      var select = el.tagName === "SELECT" ? el : el.querySelector("select");
      if (!select || select.dataset.bound) return;
      select.dataset.bound = "1";
      select.addEventListener("change", function () { select.form.requestSubmit(); });
    });
  }

  var charts = [];
  function drawCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var existing = window.echarts.getInstanceByDom(el);
      if (existing) existing.dispose();
      var kind = el.dataset.chart;
      var x = JSON.parse(el.dataset.x || "[]");
      var series = JSON.parse(el.dataset.series || "[]").map(function (s) {
        return { name: s.name, type: kind === "bar" ? "bar" : "line", smooth: false, showSymbol: false,
                 stack: s.stack, data: s.data.map(function (v) { return v === null ? null : Number(v); }) };
      });
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption({
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { show: series.length > 1, top: 0 },
        grid: { left: 56, right: 16, top: series.length > 1 ? 32 : 16, bottom: 28 },
        xAxis: { type: "category", data: x },
        yAxis: { type: "value", name: el.dataset.unit || "" },
        series: series
      });
      charts.push(chart);
    });
  }

  function sessionTimer() {
    var el = document.getElementById("session-timeout");
    var idle = el ? Number(el.dataset.idleSeconds) : 0;
    if (!idle || !document.querySelector("form[action$='/logout']")) return;
    var timer;
    function arm() {
      clearTimeout(timer);
      // The server ends the session; reloading then shows the login page with the reason.
      timer = setTimeout(function () { window.location.reload(); }, (idle + 5) * 1000);
    }
    ["keydown", "mousedown", "touchstart"].forEach(function (e) { document.addEventListener(e, arm); });
    arm();
  }

  document.addEventListener("DOMContentLoaded", function () {
    autosubmit(document);
    drawCharts(document);
    sessionTimer();
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  });
  document.addEventListener("htmx:afterSwap", function (e) { autosubmit(e.target); drawCharts(e.target); });
})();
