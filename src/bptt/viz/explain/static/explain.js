// bptt explain: the step switch and the page's self-test (package data of bptt.viz.explain, inlined).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("bptt-data").textContent);
  function fmt(v) {
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e-3 && a < 1e4) return v.toFixed(4);
    var s = v.toExponential(2);
    return s;
  }
  function color(v, scale) {
    if (!scale) return "#ffffff";
    var t = Math.max(-1, Math.min(1, v / scale));
    var c = t >= 0 ? [214, 96, 77] : [67, 147, 195];
    var a = Math.abs(t);
    function ch(x) { var h = Math.round(255 + (x - 255) * a).toString(16); return h.length < 2 ? "0" + h : h; }
    return "#" + ch(c[0]) + ch(c[1]) + ch(c[2]);
  }
  function show(t) {
    data.t = t;
    var els = document.querySelectorAll("[data-q]");
    for (var k = 0; k < els.length; k++) {
      var el = els[k], key = el.getAttribute("data-q"), i = +el.getAttribute("data-i");
      var row = data.values[key] && data.values[key][t];
      if (!row || i >= row.length) continue;
      var v = row[i];
      if (el.tagName.toLowerCase() === "text") { el.textContent = fmt(v); }
      else {
        var sc = data.scales[key];
        el.setAttribute("fill", color(v, Array.isArray(sc) ? sc[t] : sc));
        var tt = el.querySelector("title"); if (tt) tt.textContent = fmt(v);
      }
    }
    var labs = document.querySelectorAll("[data-l]");
    for (var j = 0; j < labs.length; j++) {
      var l = labs[j], lk = l.getAttribute("data-l"), li = +l.getAttribute("data-i");
      var lr = data.labels[lk] && data.labels[lk][t];
      if (lr && li < lr.length) l.textContent = lr[li];
    }
    var cur = document.querySelectorAll(".tcur");
    for (var c = 0; c < cur.length; c++) cur[c].textContent = "t = " + t;
    var btns = document.querySelectorAll(".stepbtn");
    for (var b = 0; b < btns.length; b++) btns[b].classList.toggle("cur", +btns[b].getAttribute("data-step") === t);
    var boxes = document.querySelectorAll(".stepbox");
    for (var q = 0; q < boxes.length; q++) boxes[q].classList.toggle("cur", +boxes[q].getAttribute("data-step") === t);
    document.title = document.title.replace(/t = \d+$/, "t = " + t);
  }
  var btns = document.querySelectorAll(".stepbtn");
  for (var b = 0; b < btns.length; b++) {
    btns[b].addEventListener("click", function (ev) {
      var t = +ev.currentTarget.getAttribute("data-step");
      show(t);
      if (window.history && history.replaceState) history.replaceState(null, "", "#t=" + t);
    });
  }
  var m = /(?:^#|&)t=(\d+)/.exec(window.location.hash || "");
  if (m && +m[1] < data.T) data.t = +m[1];
  // Self-test (read by the test suite through the DOM): panels present, visible and not empty.
  var errors = 0;
  window.addEventListener("error", function () { errors += 1; });
  function selftest() {
    var panels = document.querySelectorAll("section.panel"), visible = 0, ids = [];
    for (var p = 0; p < panels.length; p++) {
      var r = panels[p].getBoundingClientRect(), st = window.getComputedStyle(panels[p]);
      var svg = panels[p].querySelector("svg, img");
      if (r.width > 50 && r.height > 50 && st.visibility !== "hidden" && st.display !== "none" && svg &&
          svg.getBoundingClientRect().height > 20) { visible += 1; ids.push(panels[p].id); }
    }
    var cells = document.querySelectorAll("rect[data-q]").length;
    document.documentElement.setAttribute("data-selftest", "panels:" + panels.length + " visible:" + visible +
      " expected:" + data.expected + " cells:" + cells + " errors:" + errors);
    document.documentElement.setAttribute("data-visible-panels", ids.join(" "));
  }
  show(data.t);
  selftest();
})();
