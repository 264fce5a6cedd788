// Search over steps, deep links (#step-N opens that step), and the batch table's sort and filter.
(function () {
  "use strict";
  // Long observations are kept in one JSON block and put into the page when opened.
  var folded = null;
  function foldedTexts() {
    if (folded === null) {
      var data = document.getElementById("folded");
      folded = data ? JSON.parse(data.textContent) : [];
    }
    return folded;
  }
  function fill(details) {
    var i = details.getAttribute("data-folded");
    var pre = details.querySelector("pre");
    if (i === null || !pre || pre.getAttribute("data-filled")) return;
    pre.textContent = foldedTexts()[+i];
    pre.setAttribute("data-filled", "1");
  }
  function expand(details) { fill(details); details.open = true; }
  document.addEventListener("click", function (e) {
    var summary = e.target.closest && e.target.closest("details[data-folded] > summary");
    if (summary) fill(summary.parentNode);
  }, true);
  document.addEventListener("toggle", function (e) {
    if (e.target.open && e.target.hasAttribute("data-folded")) fill(e.target);
  }, true);

  function openStep() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (!el) return;
    el.querySelectorAll("details").forEach(expand);
    el.scrollIntoView();
  }
  window.addEventListener("hashchange", openStep);
  openStep();

  var search = document.getElementById("search");
  if (search) {
    var steps = Array.prototype.slice.call(document.querySelectorAll(".step"));
    var count = document.getElementById("search-count");
    var haystacks = null;
    function texts() {
      // Each step's text, folded observations included, lower-cased once.
      if (haystacks === null) {
        haystacks = steps.map(function (s) {
          var t = s.textContent;
          s.querySelectorAll("details[data-folded]").forEach(function (d) {
            t += "\n" + foldedTexts()[+d.getAttribute("data-folded")];
          });
          return t.toLowerCase();
        });
      }
      return haystacks;
    }
    search.addEventListener("input", function () {
      var q = search.value.trim().toLowerCase();
      var shown = 0;
      var all = q ? texts() : null;
      steps.forEach(function (s, n) {
        var hit = !q || all[n].indexOf(q) >= 0;
        s.classList.toggle("hidden", !hit);
        if (hit) {
          shown += 1;
          // Open only the parts that hold the match.
          if (q) s.querySelectorAll("details").forEach(function (d) {
            var i = d.getAttribute("data-folded");
            var text = i === null ? d.textContent : foldedTexts()[+i];
            if (text.toLowerCase().indexOf(q) >= 0) expand(d);
          });
        }
      });
      count.textContent = q ? shown + " of " + steps.length + " steps" : steps.length + " steps";
    });
  }

  var table = document.getElementById("instances");
  if (table) {
    var body = table.tBodies[0];
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headers.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var desc = th.classList.contains("sorted-asc");
        headers.forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
        th.classList.add(desc ? "sorted-desc" : "sorted-asc");
        var numeric = th.classList.contains("num");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
          var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
          return desc ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
    var filter = document.getElementById("filter");
    var status = document.getElementById("status");
    var shownCount = document.getElementById("row-count");
    function apply() {
      var q = filter.value.trim().toLowerCase(), st = status.value, shown = 0;
      Array.prototype.forEach.call(body.rows, function (r) {
        var hit = (!q || r.textContent.toLowerCase().indexOf(q) >= 0) &&
          (!st || r.getAttribute("data-status") === st);
        r.classList.toggle("hidden", !hit);
        if (hit) shown += 1;
      });
      shownCount.textContent = shown + " of " + body.rows.length + " rows";
    }
    filter.addEventListener("input", apply);
    status.addEventListener("change", apply);
  }
})();
