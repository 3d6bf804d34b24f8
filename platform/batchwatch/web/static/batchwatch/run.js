// The run page: the failing span of the trace is scrolled into view (unless the address names
// another place on the page), a span named by the address (#span-..., from the stage
// table or the failure box) opens on its details, a row's details left out of the page
// are read in when it opens, and the rows of the waterfall left out of the page (a line
// "4,800 spans not shown · show the next 200") are read in in place. A file of its own: the
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

  // The next rows of a run of rows left out (web/waterfall_html.py's gap_html: data-src,
  // data-offset, data-stop), read in above its line; without script its link opens the
  // page of the window holding them.
  function loadRows(event) {
    var link = event.target.closest ? event.target.closest(".wf-gap[data-src] a.wf-next") : null;
    if (!link) return;
    var gap = link.parentElement;
    var first = Number(gap.getAttribute("data-offset"));
    var stop = Number(gap.getAttribute("data-stop"));
    var step = Math.min(200, stop - first);
    if (gap.getAttribute("data-loading") || !(step > 0)) return;
    event.preventDefault();
    gap.setAttribute("data-loading", "1");
    var url = gap.getAttribute("data-src") + "?offset=" + first + "&limit=" + step;
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        gap.insertAdjacentHTML("beforebegin", html); // escaped by the server
        first += step;
        gap.removeAttribute("data-loading");
        if (first >= stop) {
          gap.remove();
          return;
        }
        gap.setAttribute("data-offset", String(first));
        var left = stop - first;
        gap.querySelector(".wf-gap-count").textContent = left.toLocaleString("en");
        link.textContent = "show the next " + Math.min(200, left).toLocaleString("en");
        link.setAttribute("href", "?offset=" + first + "#trace");
      })
      .catch(function () {
        gap.removeAttribute("data-loading");
      });
  }

  document.addEventListener("toggle", loadDetails, true);
  document.addEventListener("click", loadRows);
  window.addEventListener("hashchange", openTarget);
  if (openTarget()) return;
  var hash = window.location.hash;
  if (hash && hash !== "#trace") return;
  var failing = document.querySelector("#trace .wf-failing > summary");
  if (failing) failing.scrollIntoView({ block: "center" });
})();
