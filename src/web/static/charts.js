// Draws the revenue table of the overview as a line chart with uPlot. The table stays: it is
// the chart's text alternative and the whole page without JavaScript.
(function () {
  "use strict";
  var table = document.getElementById("revenue-table");
  var target = table && document.getElementById(table.dataset.chart);
  if (!table || !target || typeof uPlot === "undefined") return;
  var currencies = Array.prototype.map.call(table.querySelectorAll("thead th[data-currency]"), function (th) {
    return th.dataset.currency;
  });
  if (currencies.length === 0) return;
  var xs = [];
  var ys = currencies.map(function () { return []; });
  table.querySelectorAll("tbody tr").forEach(function (row) {
    var label = row.querySelector("th").textContent.trim();
    xs.push(Date.parse(label.length === 7 ? label + "-01" : label) / 1000);
    row.querySelectorAll("td[data-value]").forEach(function (td, i) {
      ys[i].push(parseFloat(td.dataset.value));
    });
  });
  var palette = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce"];
  var text = getComputedStyle(document.body).color;
  function options() {
    return {
      width: Math.max(280, target.clientWidth),
      height: 260,
      series: [{}].concat(currencies.map(function (c, i) {
        return { label: "Revenue " + c, stroke: palette[i % palette.length], width: 2 };
      })),
      axes: [{ stroke: text }, { stroke: text, size: 70 }],
    };
  }
  var chart = new uPlot(options(), [xs].concat(ys), target);
  window.addEventListener("resize", function () {
    chart.setSize({ width: Math.max(280, target.clientWidth), height: 260 });
  });
})();
