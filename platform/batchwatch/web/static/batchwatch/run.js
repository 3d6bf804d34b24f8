// The run page: the failing span of the trace is scrolled into view (unless the address names
// another place on the page), a span named by the address (#span-..., from the stage
// table or the failure box) opens on its details, and a row's details left out of the page
// are read in when it opens. A file of its own: the
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

  // A row opening reads in its attributes, events and resource when the page left them out
  // (web/waterfall_html.py: a trace of thousands of spans keeps its page small).
  function loadDetails(event) {
    var details = event.target;
    if (!details || details.tagName !== "DETAILS" || !details.open) return;
    var more = details.querySelector(":scope > .wf-details > a.wf-more");
    if (!more || more.getAttribute("data-loading")) return;
    more.setAttribute("data-loading", "1");
    fetch(more.getAttribute("href"), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var box = document.createElement("div");
        box.className = "wf-more";
        box.innerHTML = html; // escaped by the server (web/waterfall_html.py)
        more.replaceWith(box);
      })
      .catch(function () {
        more.removeAttribute("data-loading");
      });
  }

  document.addEventListener("toggle", loadDetails, true);
  window.addEventListener("hashchange", openTarget);
  if (openTarget()) return;
  var hash = window.location.hash;
  if (hash && hash !== "#trace") return;
  var failing = document.querySelector("#trace .wf-failing > summary");
  if (failing) failing.scrollIntoView({ block: "center" });
})();
