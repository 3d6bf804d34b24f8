// The run page: the failing span of the trace is scrolled into view (unless the address names
// another place on the page), and a span named by the address (#span-..., from the stage
// table or the failure box) opens on its details. A file of its own: the
// Content-Security-Policy refuses inline scripts; without it the page reads the same.
(function () {
  "use strict";

  function openTarget() {
    var id = window.location.hash.slice(1);
    var target = id ? document.getElementById(id) : null;
    if (!target || target.tagName !== "SUMMARY") return false;
    var details = target.parentElement;
    if (details && details.tagName === "DETAILS") details.open = true;
    target.scrollIntoView({ block: "center" });
    return true;
  }

  window.addEventListener("hashchange", openTarget);
  if (openTarget()) return;
  var hash = window.location.hash;
  if (hash && hash !== "#trace") return;
  var failing = document.querySelector("#trace .wf-failing > summary");
  if (failing) failing.scrollIntoView({ block: "center" });
})();
