// Progressive enhancement only: every page works without this file.
"use strict";
(function () {
  function countdown(el) {
    const due = Date.parse(el.getAttribute("datetime"));
    if (Number.isNaN(due)) return;
    let s = Math.round((due - Date.now()) / 1000);
    const overdue = s < 0;
    s = Math.abs(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    el.textContent = (overdue ? "overdue " : "") + h + "h " + String(m).padStart(2, "0") + "m " + String(sec).padStart(2, "0") + "s";
    el.classList.toggle("overdue", overdue);
  }
  function tick() { document.querySelectorAll("time.due").forEach(countdown); }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    // a filter's select applies on change, without pressing the button
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.requestSubmit(); });
    });
  });
})();
