// The health grid (overview and team pages): refresh the board in place every 30 s with the
// page's own filters (its query string). The server renders the board (web/grid_views.py);
// this file only swaps it in. A static file: the CSP allows no inline script.
(function () {
  "use strict";

  var REFRESH_MS = 30000;
  var BOARD_HEADER = "X-Batchwatch-Board"; // set by web/grid_views.py on the board alone
  var container = document.getElementById("grid-board");
  if (!container || !window.fetch) {
    return;
  }
  var live = document.getElementById("grid-live");
  var url = container.getAttribute("data-refresh-url") + window.location.search;
  var inFlight = false;
  var stopped = false;

  function say(text) {
    if (live) {
      live.textContent = text;
    }
  }

  function refresh() {
    if (inFlight || stopped || document.hidden) {
      return;
    }
    inFlight = true;
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok || response.headers.get(BOARD_HEADER) !== "grid") {
          // Signed out (the login page answered) or an error: keep what is shown.
          if (response.redirected) {
            stopped = true;
            say("Signed out: reload the page to sign in again.");
          } else {
            say("Could not refresh (" + response.status + "); trying again shortly.");
          }
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html !== null) {
          container.innerHTML = html;
          say("Worst first. Up to date at " + new Date().toLocaleTimeString() + ".");
        }
      })
      .catch(function () {
        say("Offline: trying again shortly.");
      })
      .then(function () {
        inFlight = false;
      });
  }

  window.setInterval(refresh, REFRESH_MS);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
})();
